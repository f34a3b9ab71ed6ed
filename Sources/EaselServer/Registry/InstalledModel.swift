import EaselDiffusion
import Foundation

/// A model ready to hand to the engine: where its files are and how they are laid out.
public struct InstalledModel: Sendable, Equatable {
    public var id: String
    public var name: String
    public var format: ModelFormat
    /// The diffusers folder, or the single `.safetensors` file.
    public var location: URL
    /// Changes when a model is removed and installed again under the same id, so a warm
    /// copy of the old files is never reused.
    public var cacheKey: String
    /// For a single file: the diffusers folder whose configs it uses (nil: its family's).
    public var configFolder: URL?
    /// The precision it is loaded and run in.
    public var precision: Precision
    /// LoRAs fused into its weights at load.
    public var loras: [LoRAAdapter]
    /// A tiny autoencoder it decodes (and encodes init images) with.
    public var tinyAutoencoder: URL?
    /// The scheduler its jobs run with (nil: the checkpoint's own).
    public var scheduler: String?
    /// What a job gets for the fields its request leaves out.
    public var defaults: JobDefaults

    public init(id: String, name: String, format: ModelFormat, location: URL, cacheKey: String, configFolder: URL? = nil,
                precision: Precision = .float32, loras: [LoRAAdapter] = [], tinyAutoencoder: URL? = nil,
                scheduler: String? = nil, defaults: JobDefaults = .leap) {
        self.id = id
        self.name = name
        self.format = format
        self.location = location
        self.cacheKey = cacheKey
        self.configFolder = configFolder
        self.precision = precision
        self.loras = loras
        self.tinyAutoencoder = tinyAutoencoder
        self.scheduler = scheduler
        self.defaults = defaults
    }

    /// Resolves a stored record against the data directory.
    public init(record: ModelRecord, dataDirectory: URL) {
        func resolve(_ path: String) -> URL {
            path.hasPrefix("/") ? URL(fileURLWithPath: path) : dataDirectory.appendingPathComponent(path)
        }
        let recipe = record.recipe
        self.init(
            id: record.id, name: record.name, format: record.format, location: resolve(record.path),
            cacheKey: "\(record.id)@\(record.createdAt.timeIntervalSince1970)",
            configFolder: record.configPath.map(resolve), precision: record.precision,
            loras: recipe.loras.map { LoRAAdapter(url: resolve($0.path), scale: $0.scale) },
            tinyAutoencoder: recipe.tinyAutoencoder.map(resolve), scheduler: recipe.scheduler)
        // The recipe's values, else the native size (measured at install, or read from a
        // folder's configs for models installed before recipes), else Leap's.
        let native = recipe.nativeWidth.flatMap { w in recipe.nativeHeight.map { (width: w, height: $0) } } ?? nativeSize()
        defaults = JobDefaults(
            steps: recipe.steps ?? LeapDefaults.steps, guidance: recipe.guidance ?? LeapDefaults.guidanceScale,
            width: recipe.width ?? native?.width ?? LeapDefaults.size,
            height: recipe.height ?? native?.height ?? LeapDefaults.size)
    }

    /// The size the UNet was trained at, in pixels, from a diffusers folder's configs without
    /// loading weights (the engine's rule); nil for a single file or unreadable configs.
    public func nativeSize() -> (width: Int, height: Int)? {
        guard format == .diffusers else { return nil }
        return ModelInspector.nativeSize(ofFolder: location)
    }

    /// Total size of the weight files, a first estimate of the memory a loaded copy needs.
    public func weightBytesOnDisk() -> Int {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: location.path, isDirectory: &isDirectory) else { return 0 }
        if !isDirectory.boolValue { return Self.size(of: location) }
        var total = 0
        let enumerator = fm.enumerator(at: location.resolvingSymlinksInPath(), includingPropertiesForKeys: [.fileSizeKey])
        while let url = enumerator?.nextObject() as? URL {
            if url.pathExtension == "safetensors" { total += Self.size(of: url) }
        }
        return total
    }

    static func size(of url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path))?[.size] as? NSNumber)?
            .intValue ?? 0
    }
}
