@testable import EaselServer
import Foundation
import Testing

/// The store calls' shared deadline watch (`StoreDeadlines`, used by `withTimeout`): a call
/// past its limit fails even if its body never returns, one within it leaves nothing behind,
/// and a cancelled caller is answered at once.
@Suite struct StoreDeadlinesTests {
    @Test func aBodyThatNeverAnswersFailsAfterTheLimit() async throws {
        let deadlines = StoreDeadlines(interval: .milliseconds(20))
        defer { deadlines.stop() }
        let limit = Duration.milliseconds(100)
        let started = ContinuousClock.now
        // When the limit fired, seen by a second watch added with it (both fire in the same
        // check, on the event loop): this task itself may resume much later, when the other
        // suites' generations keep the two threads of the cooperative pool busy (15-18 s in
        // full runs). That the call failed by its limit is shown by the error: the body
        // answers normally after 2 s.
        let fired = Locked<ContinuousClock.Instant?>(nil)
        _ = deadlines.add(limit) { fired.withLock { $0 = .now } }
        await #expect(throws: TimeoutProblem.self) {
            try await withTimeout(limit, watchedBy: deadlines) {
                // Ignores cancellation, as a lease or query the pool never answers would.
                await Self.uncancellableWait(seconds: 2)
            }
        }
        #expect(ContinuousClock.now - started >= limit)
        let firedAfter = try #require(fired.withLock { $0 }) - started
        #expect(firedAfter >= limit)
        #expect(firedAfter < .seconds(5), "fired after \(firedAfter)")
        #expect(deadlines.watching == 0)
    }

    @Test func answersWithinTheLimitLeaveNothingWatched() async throws {
        let deadlines = StoreDeadlines(interval: .milliseconds(20))
        defer { deadlines.stop() }
        for value in 0..<100 {
            #expect(try await withTimeout(.seconds(5), watchedBy: deadlines) { value } == value)
        }
        await #expect(throws: URLProblem.self) {
            try await withTimeout(.seconds(5), watchedBy: deadlines) { () async throws -> Int in throw URLProblem("no") }
        }
        #expect(deadlines.watching == 0)
    }

    /// Waits whether cancelled or not.
    static func uncancellableWait(seconds: Double) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { continuation.resume() }
        }
    }

    @Test func aCancelledCallerIsAnsweredAtOnce() async throws {
        let deadlines = StoreDeadlines(interval: .milliseconds(20))
        defer { deadlines.stop() }
        let call = Task {
            try await withTimeout(.seconds(60), watchedBy: deadlines) { await Self.uncancellableWait(seconds: 2) }
        }
        try await Task.sleep(for: .milliseconds(50))
        let started = ContinuousClock.now
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(deadlines.watching == 0)
    }
}
