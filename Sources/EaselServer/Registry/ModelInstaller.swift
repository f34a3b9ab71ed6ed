import EaselDiffusion
import Foundation

/// Installs checkpoints people already have into the data directory: a diffusers folder
/// (with `model_index.json`) or a single-file `.safetensors`, copied or linked. The engine
/// decides what is a model (`ModelInspector`): a checkpoint a job could not load is refused
/// here, with the loader's message, and nothing is installed.
public struct ModelInstaller: Sendable {
    public let dataDirectory: DataDirectory
    public let store: any ModelStore

    public init(dataDirectory: DataDirectory, store: any ModelStore) {
        self.dataDirectory = dataDirectory
        self.store = store
    }

    /// Validates and installs `source` under `name`.
    /// - Parameters:
    ///   - workspaceId: nil installs a public model; otherwise a custom model of that workspace.
    ///   - link: link to the operator's files instead of copying them.
    ///   - configFolder: for a single file that is not a standard checkpoint of its family, a
    ///     diffusers folder whose configs and tokenizer it uses (its small files are copied).
    ///   - precision: what the model's jobs run in (bf16: half the weight memory, AMX products).
    ///   - recipe: LoRAs fused into it, a tiny autoencoder, and its jobs' defaults; the files
    ///     are checked by loading them with the model and copied (or linked) beside it.
    public func install(
        source: URL, name: String, workspaceId: String?, link: Bool, configFolder: URL? = nil,
        precision: Precision = .float32, recipe options: ModelRecipeOptions = ModelRecipeOptions()
    ) async throws -> ModelRecord {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ModelInstallError.emptyName }
        let problems = options.problems()
        guard problems.isEmpty else { throw ModelInstallError.badRecipe(problems) }
        let source = source.standardizedFileURL
        let (format, summary) = try await Self.inspect(source, configFolder: configFolder?.standardizedFileURL, recipe: options)
        let id = Self.stableId(name: trimmed, workspaceId: workspaceId)
        if let existing = try await store.model(id: id) {
            throw ModelInstallError.alreadyInstalled(name: existing.name, id: existing.id)
        }
        let stem = format == .singleFile ? "\(id).safetensors" : id
        try PrivateFiles.createFolder(dataDirectory.modelsFolder)
        var placed: [String] = []  // removed again if the record cannot be added
        try place(source, as: stem, link: link)
        placed.append("models/\(stem)")
        var recipe = ModelRecipe(
            base: source.lastPathComponent, scheduler: options.scheduler, steps: options.steps, guidance: options.guidance,
            width: options.width, height: options.height, nativeWidth: summary.nativeWidth,
            nativeHeight: summary.nativeHeight)
        do {
            for (index, lora) in options.loras.enumerated() {
                let loraStem = "\(id)-lora-\(index + 1).safetensors"
                try place(lora.url.standardizedFileURL, as: loraStem, link: link)
                placed.append("models/\(loraStem)")
                recipe.loras.append(ModelRecipe.LoRA(name: lora.url.lastPathComponent, path: "models/\(loraStem)",
                                                     scale: lora.scale))
            }
            if let tiny = options.tinyAutoencoder?.standardizedFileURL {
                let tinyStem = "\(id)-tiny-autoencoder"
                try placeTinyAutoencoder(tiny, as: tinyStem, link: link)
                placed.append("models/\(tinyStem)")
                recipe.tinyAutoencoder = "models/\(tinyStem)"
                recipe.tinyAutoencoderName = tiny.lastPathComponent
            }
        } catch {
            for path in placed { try? FileManager.default.removeItem(at: dataDirectory.root.appendingPathComponent(path)) }
            throw error
        }
        let fm = FileManager.default
        var configPath: String?
        if let configFolder {
            let configStem = "\(id)-config"
            let configCopy = dataDirectory.modelsFolder.appendingPathComponent(configStem)
            try Self.copyConfigs(from: configFolder, to: configCopy)
            PrivateFiles.tighten(configCopy)
            configPath = "models/\(configStem)"
        }
        let record = ModelRecord(
            id: id, name: trimmed, workspaceId: workspaceId, format: format, path: "models/\(stem)", linked: link,
            createdAt: Date(), configPath: configPath, precision: precision, recipe: recipe)
        do {
            try await store.addModel(record)
        } catch {
            for path in placed + [configPath].compactMap({ $0 }) {
                try? fm.removeItem(at: dataDirectory.root.appendingPathComponent(path))
            }
            throw error
        }
        return record
    }

    /// Copies (private) or links `source` to `models/<stem>`, replacing what is there.
    func place(_ source: URL, as stem: String, link: Bool) throws {
        let destination = dataDirectory.modelsFolder.appendingPathComponent(stem)
        let fm = FileManager.default
        if fm.fileExists(atPath: destination.path) || (try? fm.destinationOfSymbolicLink(atPath: destination.path)) != nil {
            try fm.removeItem(at: destination)
        }
        if link {
            try fm.createSymbolicLink(at: destination, withDestinationURL: source)
        } else {
            try fm.copyItem(at: source, to: destination)
            // A copy keeps its source's modes; in the data directory it is private.
            PrivateFiles.tighten(destination)
        }
    }

    /// A tiny autoencoder as a folder `models/<stem>`: a diffusers folder as it is, or
    /// madebyollin's decoder file with the encoder beside it (when there is one).
    func placeTinyAutoencoder(_ source: URL, as stem: String, link: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try place(source, as: stem, link: link)
        }
        let folder = dataDirectory.modelsFolder.appendingPathComponent(stem)
        if FileManager.default.fileExists(atPath: folder.path) { try FileManager.default.removeItem(at: folder) }
        try PrivateFiles.createFolder(folder)
        let encoder = source.deletingLastPathComponent().appendingPathComponent(
            source.lastPathComponent.replacingOccurrences(of: "_decoder.safetensors", with: "_encoder.safetensors"))
        for file in [source, encoder] where FileManager.default.fileExists(atPath: file.path) {
            try place(file, as: "\(stem)/\(file.lastPathComponent)", link: link)
        }
    }

    /// Installs `source` as the public model `name` (copied) unless a model with that name's id
    /// is installed already. `easel serve` calls it on every start for the bundled model, so the
    /// first start offers a model and later starts leave the installed copy as it is.
    /// - Returns: the model's record, and whether it was installed by this call.
    ///
    /// Several processes starting at once on a fresh database (and one data directory) take
    /// turns under a lock file in the models folder: the first installs, the others then
    /// find its model, so none copies over another's files or fails on the name.
    public func ensurePublicModel(source: URL, name: String) async throws -> (record: ModelRecord, installed: Bool) {
        let id = Self.stableId(name: name, workspaceId: nil)
        if let existing = try await store.model(id: id) { return (existing, false) }
        let lock = try await InstallLock.acquire(dataDirectory.modelsFolder.appendingPathComponent(".install.lock"))
        defer { withExtendedLifetime(lock) {} }
        if let existing = try await store.model(id: id) { return (existing, false) }
        return (try await install(source: source, name: name, workspaceId: nil, link: false), true)
    }

    /// Copies a diffusers folder's configs and tokenizer files (JSON and text), not its weights.
    static func copyConfigs(from source: URL, to destination: URL) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: destination.path) { try fm.removeItem(at: destination) }
        let root = source.standardizedFileURL.resolvingSymlinksInPath()
        let enumerator = fm.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard ["json", "txt"].contains(url.pathExtension.lowercased()),
                (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
            else { continue }
            let relative = String(url.resolvingSymlinksInPath().path.dropFirst(root.path.count + 1))
            let target = destination.appendingPathComponent(relative)
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.copyItem(at: url, to: target)
        }
    }

    /// Removes the model's record and its files (only the link when it was linked).
    @discardableResult
    public func remove(id: String) async throws -> ModelRecord? {
        guard let record = try await store.removeModel(id: id) else { return nil }
        let recipeFiles = record.recipe.loras.map(\.path) + [record.recipe.tinyAutoencoder].compactMap { $0 }
        for path in [record.path, record.configPath].compactMap({ $0 }) + recipeFiles where !path.hasPrefix("/") {
            try? FileManager.default.removeItem(at: dataDirectory.root.appendingPathComponent(path))
        }
        return record
    }

    /// Loads `source` with the recipe's LoRAs and tiny autoencoder as a job would (off the
    /// cooperative pool) and says what layout it has, or throws `notAModel` with the
    /// engine's reason.
    static func inspect(_ source: URL, configFolder: URL?,
                        recipe: ModelRecipeOptions = ModelRecipeOptions()) async throws -> (ModelFormat, ModelSummary) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
            throw ModelInstallError.notFound(source.path)
        }
        if configFolder != nil && isDirectory.boolValue { throw ModelInstallError.configForFolder }
        for file in recipe.loras.map(\.url) + [recipe.tinyAutoencoder].compactMap({ $0 })
        where !FileManager.default.fileExists(atPath: file.path) {
            throw ModelInstallError.notFound(file.path)
        }
        do {
            let summary = try await EngineThread.run {
                try ModelInspector.inspect(source, configFolder: configFolder, loras: recipe.loras,
                                           tinyAutoencoder: recipe.tinyAutoencoder)
            }
            return (isDirectory.boolValue ? .diffusers : .singleFile, summary)
        } catch let error as LoRAError {
            throw ModelInstallError.recipeDoesNotFit(source.path, error.description)
        } catch let error as ModelInspectionError {
            throw ModelInstallError.recipeDoesNotFit(source.path, error.description)
        } catch {
            throw ModelInstallError.notAModel(source.path, "\(error)")
        }
    }

    /// A UUID-shaped id derived from the name (and owner), so re-installing a model under
    /// the same name gives it the same id and clients keep working.
    public static func stableId(name: String, workspaceId: String?) -> String {
        let digest = Credentials.digest(Data("easel-model:\(workspaceId ?? "public"):\(name)".utf8))
        var hex = Array(digest.prefix(32))
        hex[12] = "5"  // version nibble: name-based
        hex[16] = ["8", "9", "a", "b"][Int(String(hex[16]), radix: 16)! & 3]  // RFC 4122 variant
        let s = String(hex)
        let parts = [s.prefix(8), s.dropFirst(8).prefix(4), s.dropFirst(12).prefix(4), s.dropFirst(16).prefix(4), s.dropFirst(20)]
        return parts.joined(separator: "-")
    }
}

/// Why a model could not be installed.
public enum ModelInstallError: Error, CustomStringConvertible, Equatable {
    case emptyName
    case notFound(String)
    case notAModel(String, String)
    case alreadyInstalled(name: String, id: String)
    case configForFolder
    case badRecipe([String])
    case recipeDoesNotFit(String, String)

    public var description: String {
        switch self {
        case .emptyName: "the model name must not be empty"
        case .notFound(let path): "\(path): no such file or folder"
        case .notAModel(let path, let why): "\(path) is not a model Easel can load: \(why)"
        case .alreadyInstalled(let name, let id): "a model named '\(name)' is already installed (id \(id))"
        case .configForFolder: "--config applies to single-file checkpoints; a diffusers folder has its own configs"
        case .badRecipe(let problems): problems.joined(separator: "; ")
        case .recipeDoesNotFit(let path, let why): "cannot install \(path) with its recipe: \(why)"
        }
    }
}
