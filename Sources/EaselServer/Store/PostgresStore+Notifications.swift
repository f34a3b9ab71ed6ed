import Foundation
import Logging
import PostgresNIO

/// A store that tells, as they commit, changes made by any process (PostgreSQL's
/// `LISTEN/NOTIFY`). The embedded store has none: its one process knows its own changes,
/// and the once-a-second looks stay as the fallback everywhere.
public protocol JobNotificationFeed: Sendable {
    /// Calls `changed` with a job's id when its state, step or cancel flag changed or it was
    /// deleted, and `queued` when some job became queued, until the task is cancelled.
    /// A lost connection is re-opened (changes meanwhile are missed: the looks catch them).
    func followJobNotifications(
        changed: @escaping @Sendable (String) -> Void, queued: @escaping @Sendable () -> Void
    ) async
}

extension PostgresStore: JobNotificationFeed {
    public func followJobNotifications(
        changed: @escaping @Sendable (String) -> Void, queued: @escaping @Sendable () -> Void
    ) async {
        let logger = self.logger
        let client = self.client
        while !Task.isCancelled {
            do {
                // Abandoned (not awaited) when this task is cancelled: stopping never waits
                // on the pool's lease or on a connection that no longer answers.
                try await withTimeout(nil) {
                    try await client.withConnection { connection in
                        try await connection.listen(on: PostgresSchema.jobChangedChannel) { changes in
                            try await connection.listen(on: PostgresSchema.jobQueuedChannel) { queuedJobs in
                                try await withThrowingTaskGroup(of: Void.self) { group in
                                    group.addTask { for try await change in changes { changed(change.payload) } }
                                    group.addTask { for try await _ in queuedJobs { queued() } }
                                    // One sequence ending (connection lost) ends both.
                                    try await group.next()
                                    group.cancelAll()
                                }
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("job notifications interrupted; listening again", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
