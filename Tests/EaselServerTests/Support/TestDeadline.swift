import EaselServer
import Foundation
import Testing

/// Runs `body` and fails the test if it has not returned within `limit`. Unlike Swift
/// Testing's `.timeLimit` (whole minutes, and it waits for the cancelled test to return),
/// the body runs in a task of its own that is cancelled and left behind on timeout, so a
/// hang is a failure with a message instead of a stalled test run.
func withDeadline(
    _ limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable () async throws -> Void
) async throws {
    let outcome = Locked<CheckedContinuation<Void, any Error>?>(nil)
    let settle: @Sendable (Result<Void, any Error>) -> Void = { result in
        outcome.withLock { continuation in
            continuation?.resume(with: result)
            continuation = nil
        }
    }
    var work: Task<Void, Never>?
    var timer: Task<Void, Never>?
    defer { timer?.cancel() }
    do {
        try await withCheckedThrowingContinuation { continuation in
            outcome.withLock { $0 = continuation }
            work = Task {
                do { settle(.success(try await body())) } catch { settle(.failure(error)) }
            }
            timer = Task {
                try? await Task.sleep(for: limit)
                settle(.failure(DeadlinePassed()))
            }
        }
    } catch is DeadlinePassed {
        work?.cancel()
        Issue.record("\(what) did not finish within \(limit): it hangs", sourceLocation: sourceLocation)
    }
}

private struct DeadlinePassed: Error {}
