import EaselTensor
import Foundation

/// A pipeline saved in diffusers' folder layout: `model_index.json` naming each
/// component's library and class, and a folder per component.
///
/// ```
/// model_index.json         {"unet": ["diffusers", "UNet2DConditionModel"], ...}
/// unet/config.json
/// unet/diffusion_pytorch_model.safetensors   (or .fp16., or sharded with an index)
/// text_encoder/config.json, model.safetensors
/// tokenizer/...            scheduler/scheduler_config.json
/// ```
public struct DiffusersFolder: Sendable {
    /// What `model_index.json` says about one component.
    public struct ComponentSpec: Sendable, Equatable {
        /// The Python library that defines it ("diffusers", "transformers"); nil if absent.
        public var library: String?
        /// Its class ("UNet2DConditionModel", "CLIPTextModel"...); nil if absent.
        public var className: String?

        public init(library: String? = nil, className: String? = nil) {
            self.library = library
            self.className = className
        }
    }

    public let url: URL
    /// The pipeline class (`_class_name`), e.g. "StableDiffusionPipeline".
    public let pipelineClass: String?
    /// Components by name. Entries that are not `[library, class]` pairs (flags such as
    /// `requires_safety_checker`, `_`-prefixed metadata) are not components.
    public let components: [String: ComponentSpec]
    /// SDXL pipelines' `force_zeros_for_empty_prompt` (true when the index leaves it out, as
    /// `StableDiffusionXLPipeline.__init__` defaults it); false for other pipelines.
    public let forceZerosForEmptyPrompt: Bool

    /// Reads `model_index.json` in `url`.
    public init(url: URL) throws {
        self.url = url
        let indexURL = url.appendingPathComponent("model_index.json")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.missingFile(path: url.path, what: "diffusers model folder")
        }
        guard FileManager.default.fileExists(atPath: indexURL.path) else {
            throw CheckpointError.missingFile(path: indexURL.path, what: "model_index.json (not a diffusers model folder)")
        }
        let json = try readJSONFile(indexURL)
        guard case let .object(members) = json else {
            throw CheckpointError.invalidJSON(path: indexURL.path, reason: "not a JSON object")
        }
        var components: [String: ComponentSpec] = [:]
        for (key, value) in members where !key.hasPrefix("_") {
            guard case let .array(pair) = value, pair.count == 2,
                  pair.allSatisfy({ $0.stringValue != nil || $0 == .null }) else { continue }
            components[key] = ComponentSpec(library: pair[0].stringValue, className: pair[1].stringValue)
        }
        self.components = components
        pipelineClass = json["_class_name"]?.stringValue
        if case let .bool(flag)? = json["force_zeros_for_empty_prompt"] {
            forceZerosForEmptyPrompt = flag
        } else {
            forceZerosForEmptyPrompt = pipelineClass?.hasPrefix("StableDiffusionXL") ?? false
        }
    }

    /// The component `name`, which `model_index.json` must list and whose folder must exist.
    public func component(_ name: String) throws -> DiffusersComponent {
        let indexPath = url.appendingPathComponent("model_index.json").path
        guard let spec = components[name] else {
            throw CheckpointError.componentNotListed(name: name, modelIndex: indexPath, listed: components.keys.sorted())
        }
        guard spec.className != nil else {
            throw CheckpointError.componentAbsent(name: name, modelIndex: indexPath)
        }
        let directory = url.appendingPathComponent(name, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.missingComponentFolder(name: name, path: directory.path)
        }
        return DiffusersComponent(name: name, directory: directory, spec: spec)
    }
}

/// One component folder of a diffusers pipeline (`unet/`, `vae/`, `text_encoder/`...).
public struct DiffusersComponent: Sendable {
    public let name: String
    public let directory: URL
    public let spec: DiffusersFolder.ComponentSpec

    public init(name: String, directory: URL, spec: DiffusersFolder.ComponentSpec = DiffusersFolder.ComponentSpec()) {
        self.name = name
        self.directory = directory
        self.spec = spec
    }

    /// Decodes `file` (default `config.json`; schedulers use `scheduler_config.json`).
    public func config<Config: Decodable>(_ type: Config.Type, file: String = "config.json") throws -> Config {
        try ConfigFile.decode(type, from: directory.appendingPathComponent(file))
    }

    /// Locates the component's weight files (see `ComponentWeightFiles.locate`).
    public func weightFiles(variant: String? = nil) throws -> ComponentWeightFiles {
        try ComponentWeightFiles.locate(in: directory, variant: variant)
    }

    /// Opens the component's weights for strict loading; every shard is validated now.
    /// Attention parameters saved under diffusers' pre-0.14 names are shown under the
    /// current ones (see `DeprecatedAttentionNames`).
    public func weights(variant: String? = nil, matrixType: ElementType = .float32) throws -> StrictWeights {
        StrictWeights(DeprecatedAttentionNames.normalised(try weightFiles(variant: variant).open()), matrixType: matrixType)
    }
}
