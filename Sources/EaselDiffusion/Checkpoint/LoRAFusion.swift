import EaselTensor
import Foundation

/// LoRAs fused into a model's weights as it loads, equal to diffusers' `load_lora_weights`
/// followed by `fuse_lora(lora_scale: scale)`: every adapted weight becomes
/// `W + Σ scale · (alpha / rank) · up · down` (alpha defaults to the rank), with a
/// convolution's factors flattened (`down` `[rank, in, kh, kw]`, `up` `[out, rank, 1, 1]`).
///
/// Nothing is fused silently wrong: a LoRA layer that names no layer of the model, or whose
/// factors do not fit the weight it names, makes loading fail with the layer's key.
public struct LoRAFusion: Sendable {
    /// No LoRA: weights load as they are stored.
    public static let none = LoRAFusion(files: [])

    private let files: [(file: LoRAFile, scale: Double)]

    private init(files: [(file: LoRAFile, scale: Double)]) { self.files = files }

    /// Reads every adapter's file (names and shapes; factors are read when fused).
    public init(_ adapters: [LoRAAdapter]) throws {
        var files: [(file: LoRAFile, scale: Double)] = []
        for adapter in adapters {
            guard adapter.scale.isFinite else { throw LoRAError.badScale(file: adapter.url.path, scale: adapter.scale) }
            files.append((try LoRAFile(url: adapter.url), adapter.scale))
        }
        self.files = files
    }

    public var isEmpty: Bool { files.isEmpty }

    /// Refuses LoRA layers for a part the model does not have (a second text encoder's on
    /// SD 1.x/2.x), which `fusing` would otherwise never see.
    public func checkComponents(present: Set<LoRAComponent>) throws {
        for (file, _) in files {
            let stray = file.layers.filter { !present.contains($0.component) }
            if let first = stray.first {
                throw LoRAError.absentComponent(file: file.url.path, component: first.component, keys: stray.map(\.key))
            }
        }
    }

    /// `weights` with every layer the LoRAs adapt in `component` fused in (the same source
    /// when they adapt nothing there).
    public func fusing(into weights: StrictWeights, _ component: LoRAComponent) throws -> StrictWeights {
        let layers = files.flatMap { entry in
            entry.file.layers.filter { $0.component == component }.map { (entry.file, entry.scale, $0) }
        }
        guard !layers.isEmpty else { return weights }
        let index = ModuleIndex(weights.archive, component: component)
        var patches: [String: [LoRAPatch]] = [:]
        var unmatched: [String: [String]] = [:]
        for (file, scale, layer) in layers {
            guard let weightName = index.weightName(layer.target) else {
                unmatched[file.url.path, default: []].append(layer.key)
                continue
            }
            patches[weightName, default: []].append(
                try LoRAPatch(file: file, layer: layer, scale: scale, weightName: weightName,
                              weightShape: weights.archive.info(weightName)?.shape ?? []))
        }
        if let (file, keys) = unmatched.min(by: { $0.key < $1.key }) {
            throw LoRAError.unmatched(file: file, component: component, keys: keys)
        }
        return StrictWeights(LoRAFusedArchive(base: weights.archive, patches: patches), matrixType: weights.matrixType)
    }
}

/// The weights of one model by the module paths a LoRA may name them with.
private struct ModuleIndex {
    private var byModule: [String: String] = [:]
    private var byFlattened: [String: String] = [:]

    init(_ archive: any TensorArchive, component: LoRAComponent) {
        // kohya-ss names SDXL's UNet layers by SGM's module paths (`input_blocks_4_1_...`).
        let sgmPaths = component == .unet ? LDMUNetKeyMapping.ldmModulePaths(diffusersWeights: archive.names) : [:]
        for name in archive.names where name.hasSuffix(".weight") {
            let module = String(name.dropLast(".weight".count))
            var spellings = [module]
            // CLIP's layers sit under `text_model.` in published checkpoints and LoRAs, and
            // at the top in current transformers' saves: either spelling finds them.
            if component != .unet {
                spellings.append(module.hasPrefix("text_model.") ? String(module.dropFirst("text_model.".count))
                                                                 : "text_model." + module)
            }
            if let sgm = sgmPaths[module] { spellings.append(sgm) }
            for spelling in spellings {
                byModule[spelling] = byModule[spelling] ?? name
                let flattened = spelling.replacingOccurrences(of: ".", with: "_")
                byFlattened[flattened] = byFlattened[flattened] ?? name
            }
        }
    }

    func weightName(_ target: LoRALayer.Target) -> String? {
        switch target {
        case let .module(path): byModule[path]
        case let .flattened(name): byFlattened[name]
        }
    }
}

/// One LoRA layer's contribution to one weight: `factor · up · down`.
private struct LoRAPatch: Sendable {
    let file: LoRAFile
    let layer: LoRALayer
    let rank: Int
    let outputs: Int
    let fanIn: Int
    /// `scale · alpha / rank`.
    let factor: Float

    init(file: LoRAFile, layer: LoRALayer, scale: Double, weightName: String, weightShape: [Int]) throws {
        let down = file.archive.info(layer.down)?.shape ?? []
        let up = file.archive.info(layer.up)?.shape ?? []
        let mismatch = LoRAError.shapeMismatch(file: file.url.path, key: layer.key, weight: weightName,
                                               weightShape: weightShape, down: down, up: up)
        // A linear weight [out, in] or a convolution's [out, in, kh, kw]; the factors as
        // linear ([r, in], [out, r]) or convolution ([r, in, kh, kw], [out, r, 1, 1]) layers.
        guard [2, 4].contains(weightShape.count), [2, 4].contains(down.count), [2, 4].contains(up.count),
              let rank = down.first, rank > 0 else { throw mismatch }
        let outputs = weightShape[0], fanIn = weightShape.dropFirst().reduce(1, *)
        guard down.dropFirst().reduce(1, *) == fanIn, up[0] == outputs, up[1] == rank,
              up.dropFirst(2).allSatisfy({ $0 == 1 }) else { throw mismatch }
        var alpha = Double(rank)
        if let name = layer.alpha {
            let value = try file.tensor(name)
            guard value.count == 1, let stored = value.scalars.first, stored.isFinite else {
                throw LoRAError.badAlpha(file: file.url.path, key: name)
            }
            alpha = Double(stored)
        }
        self.file = file
        self.layer = layer
        self.rank = rank
        self.outputs = outputs
        self.fanIn = fanIn
        factor = Float(scale * alpha / Double(rank))
    }

    /// `factor · up · down`, `[outputs, fanIn]`.
    func delta() throws -> Tensor {
        let up = try file.tensor(layer.up).reshaped([outputs, rank])
        let down = try file.tensor(layer.down).reshaped([rank, fanIn])
        return Tensor.matmul(up, down) * factor
    }
}

/// A model's weights with LoRA deltas added to the weights they adapt as each is loaded.
private struct LoRAFusedArchive: TensorArchive {
    let base: any TensorArchive
    let patches: [String: [LoRAPatch]]

    var location: String { base.location }
    var names: [String] { base.names }

    func info(_ name: String) -> ArchivedTensorInfo? { base.info(name) }

    func loadTensor(_ name: String) throws -> Tensor {
        var weight = try base.loadTensor(name)
        for patch in patches[name] ?? [] {
            weight = weight + (try patch.delta()).reshaped(weight.shape)
        }
        return weight
    }
}

/// Why a LoRA cannot be used.
public enum LoRAError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case empty(file: String)
    case unknownKeys(file: String, keys: [String])
    case unsupportedKind(file: String, kind: String, key: String)
    case unpaired(file: String, key: String)
    case absentComponent(file: String, component: LoRAComponent, keys: [String])
    case unmatched(file: String, component: LoRAComponent, keys: [String])
    case shapeMismatch(file: String, key: String, weight: String, weightShape: [Int], down: [Int], up: [Int])
    case badAlpha(file: String, key: String)
    case badScale(file: String, scale: Double)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            "LoRA \(file) cannot be read: \(reason)"
        case let .empty(file):
            "LoRA \(file) holds no LoRA layers (no lora_down/lora_up or lora_A/lora_B pairs)"
        case let .unknownKeys(file, keys):
            "LoRA \(file) has tensors that are not LoRA factors: \(Self.list(keys))"
        case let .unsupportedKind(file, kind, key):
            "LoRA \(file) is \(kind) ('\(key)'); Easel fuses plain LoRA (down/up factors with an optional alpha)"
        case let .unpaired(file, key):
            "LoRA \(file): '\(key)' has no matching up/down factor"
        case let .absentComponent(file, component, keys):
            "LoRA \(file) adapts a \(component), which this model does not have (an SDXL LoRA on SD 1.x/2.x?): \(Self.list(keys))"
        case let .unmatched(file, component, keys):
            "LoRA \(file) does not fit this model: \(keys.count) layer\(keys.count == 1 ? "" : "s") name no layer of its \(component): \(Self.list(keys))"
        case let .shapeMismatch(file, key, weight, weightShape, down, up):
            "LoRA \(file) does not fit this model: '\(key)' (down \(down), up \(up)) cannot adapt '\(weight)' \(weightShape)"
        case let .badAlpha(file, key):
            "LoRA \(file): '\(key)' is not one finite number"
        case let .badScale(file, scale):
            "LoRA \(file): scale \(scale) is not a finite number"
        }
    }

    private static func list(_ keys: [String]) -> String {
        keys.prefix(8).map { "'\($0)'" }.joined(separator: ", ") + (keys.count > 8 ? " and \(keys.count - 8) more" : "")
    }
}
