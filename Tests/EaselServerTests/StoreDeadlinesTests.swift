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
        let started = ContinuousClock.now
        await #expect(throws: TimeoutProblem.self) {
            try await withTimeout(.milliseconds(100), watchedBy: deadlines) {
                // Ignores cancellation, as a lease or query the pool never answers would.
                await Self.uncancellableWait(seconds: 2)
            }
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(100))
        #expect(waited < .seconds(5), "waited \(waited)")
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
