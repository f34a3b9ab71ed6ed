import Foundation

/// Loads a model's weights into whatever the engine runs (the warm-cache seam).
public protocol ModelLoader: Sendable {
    associatedtype Loaded: Sendable
    /// Bytes a loaded copy will hold, estimated before loading, so room can be made first.
    func estimatedBytes(for model: InstalledModel) throws -> Int
    func load(_ model: InstalledModel) async throws -> Loaded
}

/// Keeps loaded models warm for the next job, least recently used evicted first, within
/// a memory budget. Concurrent requests for the same model share one load.
///
/// A model larger than the whole budget is still loaded (a job needs it) but then is the
/// only one kept. Evicting only drops the cache's reference: a worker still using the
/// model keeps it alive until its job ends.
public actor ModelCache<Loader: ModelLoader> {
    public typealias Loaded = Loader.Loaded

    struct Entry {
        var model: Loaded
        var bytes: Int
        var lastUse: UInt64
    }

    public let budgetBytes: Int
    let loader: Loader
    var entries: [String: Entry] = [:]
    var loading: [String: Task<(Loaded, Int), any Error>] = [:]
    var clock: UInt64 = 0

    public init(loader: Loader, budgetBytes: Int) {
        self.loader = loader
        self.budgetBytes = budgetBytes
    }

    /// The loaded model, from the cache or freshly loaded.
    public func model(for installed: InstalledModel) async throws -> Loaded {
        let key = installed.cacheKey
        clock += 1
        if var entry = entries[key] {
            entry.lastUse = clock
            entries[key] = entry
            return entry.model
        }
        if let pending = loading[key] {
            return try await pending.value.0
        }
        let estimate = try loader.estimatedBytes(for: installed)
        evict(toFit: estimate, keeping: nil)
        let loader = self.loader
        let task = Task { () async throws -> (Loaded, Int) in
            (try await loader.load(installed), estimate)
        }
        loading[key] = task
        defer { loading[key] = nil }
        let (model, bytes) = try await task.value
        clock += 1
        entries[key] = Entry(model: model, bytes: bytes, lastUse: clock)
        evict(toFit: 0, keeping: key)
        return model
    }

    /// Cache keys of the resident models, most recently used first.
    public var residentKeys: [String] {
        entries.sorted { $0.value.lastUse > $1.value.lastUse }.map(\.key)
    }

    public var residentBytes: Int { entries.values.reduce(0) { $0 + $1.bytes } }

    public func evictAll() { entries.removeAll() }

    /// Drops least recently used models until `incoming` more bytes fit in the budget.
    func evict(toFit incoming: Int, keeping kept: String?) {
        while residentBytes + incoming > budgetBytes {
            let victims = entries.filter { $0.key != kept }
            guard let oldest = victims.min(by: { $0.value.lastUse < $1.value.lastUse }) else { return }
            entries[oldest.key] = nil
        }
    }
}
