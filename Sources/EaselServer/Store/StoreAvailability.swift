import Foundation

/// The database could not be reached in time (it is down, restarting, or the network to it
/// is cut). Request handlers answer 503 with it; the operation may be retried once the
/// database is back.
public struct StoreUnavailable: Error, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { "database unavailable: \(reason)" }
}

/// How long one store operation may wait for the database in the current task. Request
/// handlers set it short (so a client gets a 503 in bounded time instead of waiting for the
/// database to return); workers set it to a job's lease, so a job's end is recorded once
/// the database is back rather than given up half-way, yet a connection that never answers
/// cannot hold a worker past the point where its claim is stale anyway. Unset, an operation
/// waits until the calling task is cancelled.
public enum StoreWaitLimit {
    @TaskLocal public static var current: Duration?
}
