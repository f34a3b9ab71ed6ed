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
    public func install(
        source: URL, name: String, workspaceId: String?, link: Bool, configFolder: URL? = nil,
        precision: Precision = .float32
    ) async throws -> ModelRecord {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ModelInstallError.emptyName }
        let source = source.standardizedFileURL
        let format = try await Self.inspect(source, configFolder: configFolder?.standardizedFileURL)
        let id = Self.stableId(name: trimmed, workspaceId: workspaceId)
        if let existing = try await store.model(id: id) {
            throw ModelInstallError.alreadyInstalled(name: existing.name, id: existing.id)
        }
        let stem = format == .singleFile ? "\(id).safetensors" : id
        let destination = dataDirectory.modelsFolder.appendingPathComponent(stem)
        let fm = FileManager.default
        try PrivateFiles.createFolder(dataDirectory.modelsFolder)
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
            createdAt: Date(), configPath: configPath, precision: precision)
        do {
            try await store.addModel(record)
        } catch {
            try? fm.removeItem(at: destination)
            if let configPath { try? fm.removeItem(at: dataDirectory.root.appendingPathComponent(configPath)) }
            throw error
        }
        return record
    }

    /// Installs `source` as the public model `name` (copied) unless a model with that name's id
    /// is installed already. `easel serve` calls it on every start for the bundled model, so the
    /// first start offers a model and later starts leave the installed copy as it is.
    /// - Returns: the model's record, and whether it was installed by this call.
    public func ensurePublicModel(source: URL, name: String) async throws -> (record: ModelRecord, installed: Bool) {
        if let existing = try await store.model(id: Self.stableId(name: name, workspaceId: nil)) {
            return (existing, false)
        }
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
        for path in [record.path, record.configPath].compactMap({ $0 }) where !path.hasPrefix("/") {
            try? FileManager.default.removeItem(at: dataDirectory.root.appendingPathComponent(path))
        }
        return record
    }

    /// Loads `source` as a job would (off the cooperative pool) and says what layout it has,
    /// or throws `notAModel` with the engine's reason.
    static func inspect(_ source: URL, configFolder: URL?) async throws -> ModelFormat {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
            throw ModelInstallError.notFound(source.path)
        }
        if configFolder != nil && isDirectory.boolValue { throw ModelInstallError.configForFolder }
        do {
            _ = try await EngineThread.run { try ModelInspector.inspect(source, configFolder: configFolder) }
            return isDirectory.boolValue ? .diffusers : .singleFile
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

    public var description: String {
        switch self {
        case .emptyName: "the model name must not be empty"
        case .notFound(let path): "\(path): no such file or folder"
        case .notAModel(let path, let why): "\(path) is not a model Easel can load: \(why)"
        case .alreadyInstalled(let name, let id): "a model named '\(name)' is already installed (id \(id))"
        case .configForFolder: "--config applies to single-file checkpoints; a diffusers folder has its own configs"
        }
    }
}
