import NIOCore
import PostgresNIO

/// The wait limits of a store's calls, watched by one repeating check instead of a timer
/// each. Every store call of every request has a limit (`StoreWaitLimit`), and a timer of its
/// own on an event loop cost a wake-up of that loop to set it (a write to its eventfd from
/// the calling thread) and a lock to cancel it, on each call; here a call only adds and
/// removes itself under one lock, and a limit fires up to one `interval` late.
final class StoreDeadlines: Sendable {
    private struct Waiter {
        let deadline: ContinuousClock.Instant
        let expire: @Sendable () -> Void
    }

    private struct Waiters {
        var next: UInt64 = 0
        var byID: [UInt64: Waiter] = [:]
    }

    let interval: Duration
    private let waiters = Locked(Waiters())
    private let check: RepeatedTask

    init(interval: Duration = .milliseconds(50), on loop: any EventLoop = PostgresConnection.defaultEventLoopGroup.any()) {
        self.interval = interval
        let waiters = self.waiters
        let step = TimeAmount(interval)
        check = loop.scheduleRepeatedTask(initialDelay: step, delay: step) { _ in
            let now = ContinuousClock.now
            let due = waiters.withLock { waiters -> [Waiter] in
                guard !waiters.byID.isEmpty else { return [] }
                let due = waiters.byID.filter { $0.value.deadline <= now }
                for id in due.keys { waiters.byID[id] = nil }
                return Array(due.values)
            }
            for waiter in due { waiter.expire() }
        }
    }

    deinit { check.cancel() }

    /// `expire` runs (once, on an event loop) when `limit` has passed, unless `remove` came first.
    func add(_ limit: Duration, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let waiter = Waiter(deadline: .now + limit, expire: expire)
        return waiters.withLock { waiters in
            waiters.next &+= 1
            waiters.byID[waiters.next] = waiter
            return waiters.next
        }
    }

    func remove(_ id: UInt64) {
        waiters.withLock { _ = $0.byID.removeValue(forKey: id) }
    }

    /// Calls being watched now.
    var watching: Int { waiters.withLock { $0.byID.count } }

    /// Stops watching; limits not yet reached never fire.
    func stop() { check.cancel() }
}
