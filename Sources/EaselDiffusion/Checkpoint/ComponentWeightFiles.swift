import Foundation

/// The weights file(s) of one diffusers component folder, as found on disk.
///
/// diffusers names them `diffusion_pytorch_model.safetensors` (its own models) or
/// `model.safetensors` (transformers models), optionally with a variant before the
/// extension (`*.fp16.safetensors`) or sharded behind an index
/// (`*.safetensors.index.json`, variant `*.safetensors.index.fp16.json`).
public enum ComponentWeightFiles: Sendable, Equatable {
    /// One safetensors file.
    case single(URL)
    /// A sharded checkpoint: its index file.
    case sharded(index: URL)

    /// The file names weights are stored under, diffusers' first.
    static let stems = ["diffusion_pytorch_model", "model"]
    /// Pickled weight files that are recognised only to say they are not supported.
    static let pickleExtensions = ["bin", "ckpt", "pt", "pth"]
    /// The variant taken when there is no plain file and several variants.
    static let preferredVariant = "fp16"

    /// Finds the weights in `directory`: the plain file (single before sharded) if there
    /// is one, else the variant `variant` names, else the only variant or the fp16 one.
    public static func locate(in directory: URL, variant: String? = nil) throws -> ComponentWeightFiles {
        let files = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        var plain: [ComponentWeightFiles] = []
        var variants: [String: ComponentWeightFiles] = [:]
        for stem in stems {
            if files.contains("\(stem).safetensors") {
                plain.append(.single(directory.appendingPathComponent("\(stem).safetensors")))
            }
            if files.contains("\(stem).safetensors.index.json") {
                plain.append(.sharded(index: directory.appendingPathComponent("\(stem).safetensors.index.json")))
            }
            for file in files.sorted() {
                if let v = variantName(file, prefix: "\(stem).", suffix: ".safetensors"), variants[v] == nil {
                    variants[v] = .single(directory.appendingPathComponent(file))
                } else if let v = variantName(file, prefix: "\(stem).safetensors.index.", suffix: ".json"), variants[v] == nil {
                    variants[v] = .sharded(index: directory.appendingPathComponent(file))
                }
            }
        }
        if let variant {
            guard let found = variants[variant] else {
                throw CheckpointError.missingVariant(directory: directory.path, variant: variant, available: variants.keys.sorted())
            }
            return found
        }
        if let first = plain.first { return first }
        if let preferred = variants[preferredVariant] { return preferred }
        if variants.count == 1, let only = variants.values.first { return only }
        if !variants.isEmpty {
            throw CheckpointError.ambiguousVariants(directory: directory.path, variants: variants.keys.sorted())
        }
        if let pickle = files.sorted().first(where: { pickleExtensions.contains(($0 as NSString).pathExtension) }) {
            throw CheckpointError.pickleWeightsUnsupported(path: directory.appendingPathComponent(pickle).path)
        }
        throw CheckpointError.noWeights(
            directory: directory.path,
            lookedFor: stems.flatMap { ["\($0).safetensors", "\($0).safetensors.index.json", "\($0).<variant>.safetensors"] })
    }

    /// Opens the files (every shard's header is validated) as one archive.
    public func open() throws -> any TensorArchive {
        switch self {
        case let .single(url): try SafetensorsFile(url: url)
        case let .sharded(index): try ShardedSafetensors(indexURL: index)
        }
    }

    /// `file` minus `prefix` and `suffix` when what is left is a plain variant name.
    private static func variantName(_ file: String, prefix: String, suffix: String) -> String? {
        guard file.hasPrefix(prefix), file.hasSuffix(suffix), file.count > prefix.count + suffix.count else { return nil }
        let name = file.dropFirst(prefix.count).dropLast(suffix.count)
        guard !name.contains("."), !name.contains("-of-"), name != "safetensors" else { return nil }
        return String(name)
    }
}
