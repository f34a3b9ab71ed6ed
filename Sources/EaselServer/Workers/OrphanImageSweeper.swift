import EaselDiffusion
import Foundation
import Logging
import ServiceLifecycle

/// Removes image files that no stored image names. A worker writes a job's PNGs before the
/// transaction that finishes the job; a crash (or a lost database) between the two leaves
/// files nobody will serve. Only files older than `minimumAge` are considered, so a job
/// whose files are written but not yet committed is never touched; several processes may
/// sweep the same folder at once (a file is removed at most once, and only if unnamed).
public struct OrphanImageSweeper: Sendable {
    let images: any ImageStore
    let store: any JobStore
    /// Files written more recently than this are left alone.
    let minimumAge: Duration
    let logger: Logger
    static let batchSize = 500

    public init(images: any ImageStore, store: any JobStore, minimumAge: Duration, logger: Logger) {
        self.images = images
        self.store = store
        self.minimumAge = minimumAge
        self.logger = logger
    }

    /// One pass over the folder; returns the names of the files removed.
    @discardableResult
    public func sweep(now: Date = Date()) async throws -> [String] {
        let candidates = try images.fileNames(writtenBefore: now.addingTimeInterval(-minimumAge.seconds))
        var removed: [String] = []
        for start in stride(from: 0, to: candidates.count, by: Self.batchSize) {
            let batch = Array(candidates[start..<min(start + Self.batchSize, candidates.count)])
            let named = try await store.referencedImageFiles(batch)
            for name in batch where !named.contains(name) {
                images.delete(fileName: name)
                removed.append(name)
            }
        }
        if !removed.isEmpty {
            logger.info(
                "orphan images removed",
                metadata: ["count": "\(removed.count)", "first": "\(removed.prefix(5).joined(separator: ", "))"])
        }
        return removed
    }
}

/// The sweeper as a service of worker processes: a pass at start, then every `interval`,
/// until graceful shutdown.
struct OrphanImageSweeps: Service {
    let sweeper: OrphanImageSweeper
    let interval: Duration
    let logger: Logger

    func run() async throws {
        let sweeper = self.sweeper
        let interval = self.interval
        let logger = self.logger
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await sweeper.sweep()
                } catch {
                    logger.warning("could not sweep orphan images", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
