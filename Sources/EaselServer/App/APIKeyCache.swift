import Foundation

/// The workspaces of recently used API keys, kept for `ttl` so a busy client's requests do
/// not each read the key from the database. Keyed by the key's SHA-256 hash (the key itself
/// is never kept). Only valid keys are cached: an unknown key is looked up every time, so a
/// new key works at once, and a revoked key (`easel keys revoke`, from any process) is
/// refused at the latest `ttl` after the revocation.
public final class APIKeyCache: Sendable {
    struct Entry {
        var workspace: Workspace
        var expires: ContinuousClock.Instant
    }

    public let ttl: Duration
    /// Entries kept at most; past it the expired ones go, and if that is not enough, all.
    let capacity: Int
    private let entries = Locked<[String: Entry]>([:])

    /// A `ttl` of zero turns the cache off (every request reads the key).
    public init(ttl: Duration, capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    /// The workspace of the active key with this hash: from the cache while fresh, else
    /// from `store` (and cached when the key is valid).
    public func workspace(keyHash: String, store: any AccountStore) async throws -> Workspace? {
        guard ttl > .zero else { return try await store.authenticate(keyHash: keyHash) }
        let now = ContinuousClock.now
        if let hit = entries.withLock({ $0[keyHash] }), hit.expires > now { return hit.workspace }
        let found = try await store.authenticate(keyHash: keyHash)
        entries.withLock { entries in
            guard let found else {
                entries[keyHash] = nil
                return
            }
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= capacity { entries.removeAll() }
            }
            entries[keyHash] = Entry(workspace: found, expires: now + ttl)
        }
        return found
    }
}
