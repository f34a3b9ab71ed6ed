import Foundation

/// Something that happened to a job, broadcast in-process to event streams and workers.
public enum JobEvent: Sendable, Equatable {
    /// The stored state changed (read the store for the new entity).
    case state(JobState)
    /// A denoising step completed (1-based).
    case step(Int, of: Int)
    /// A live preview of this step was stored.
    case preview(step: Int)
    /// Someone asked to stop the job.
    case cancelRequested
    /// The job was deleted.
    case deleted
    /// The stored job changed, perhaps in another process (a database notification): read it.
    case changed
    /// A heartbeat a subscriber injects into its own stream (never published).
    case tick
}

/// In-process publish/subscribe of job events, keyed by job id. The store stays the
/// truth; the hub only says "look now", so a missed event costs latency, not correctness.
public final class JobEventHub: Sendable {
    private let subscribers = Locked<[String: [UUID: AsyncStream<JobEvent>.Continuation]]>([:])

    public init() {}

    /// Registers `continuation` for `jobId`'s events; call the returned closure to stop.
    public func subscribe(jobId: String, _ continuation: AsyncStream<JobEvent>.Continuation) -> @Sendable () -> Void {
        let token = UUID()
        subscribers.withLock { $0[jobId, default: [:]][token] = continuation }
        return { [weak self] in
            self?.subscribers.withLock { all in
                all[jobId]?[token] = nil
                if all[jobId]?.isEmpty == true { all[jobId] = nil }
            }
        }
    }

    public func publish(jobId: String, _ event: JobEvent) {
        let targets = subscribers.withLock { Array(($0[jobId] ?? [:]).values) }
        for continuation in targets { continuation.yield(event) }
    }

    /// How many streams currently follow `jobId` (tests wait on this).
    public func subscriberCount(jobId: String) -> Int {
        subscribers.withLock { $0[jobId]?.count ?? 0 }
    }
}

/// Wakes sleeping loops (workers when a job is queued, the webhook dispatcher when a
/// delivery is due). A signal with nobody waiting is kept for the next waiter.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Locked(State())

    public init() {}

    public func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if state.waiters.isEmpty {
                state.pending = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when signalled, after `timeout`, or when the task is cancelled.
    public func wait(timeout: Duration) async {
        let token = UUID()
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.resume(token)
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiters[token] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.resume(token)
        }
    }

    private func resume(_ token: UUID) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: token) }
        waiter?.resume()
    }
}
