import Foundation
import Logging
import ServiceLifecycle

/// The queue workers, as one ServiceLifecycle service: `count` loops that each claim the
/// next job (fairly across workspaces) under a lease, run it, and repeat; beside them a
/// sweep that puts back in the queue jobs whose lease ran out (their worker, in this
/// process or another, died). On graceful shutdown (SIGTERM) they stop claiming; the job
/// in hand gets `shutdownGrace` to finish, then is stopped at the next step and re-queued,
/// and the service returns.
struct GenerationWorkers: Service {
    let runner: JobRunner
    let store: any JobStore
    let count: Int
    let signal: WakeSignal
    let pollInterval: Duration
    /// How long a claim holds without renewal.
    let lease: Duration
    /// Names this process's claims (host and process id), for the `claimedBy` column.
    let processName: String
    /// Recovers jobs whose lease ended (returns how many went back to the queue or failed).
    let sweep: @Sendable () async -> Void
    let logger: Logger

    func run() async throws {
        guard count > 0 else {
            // An API-only process (`--workers 0`): another process generates.
            logger.info("no workers in this process: API only")
            try? await gracefulShutdown()
            return
        }
        let shutdown = ShutdownFlag()
        let loops = (0..<count).map { index in { @Sendable in await loop(worker: index, shutdown: shutdown) } }
        await withGracefulShutdownHandler {
            // Past the job's grace and a few seconds to re-queue it, what still waits (on a
            // database that is gone) is cancelled: the service returns either way.
            await runWithShutdownDeadline(
                shutdown, deadline: runner.shutdownGrace + Self.storeWaitAfterGrace,
                loops + [{ await sweepLoop(shutdown: shutdown) }])
        } onGracefulShutdown: {
            shutdown.begin()
            // Wake every idle worker so it sees the flag.
            for _ in 0..<count { signal.signal() }
        }
        logger.info("workers stopped")
    }

    /// How long after the job's grace a stopping worker may still wait for the store.
    static let storeWaitAfterGrace: Duration = .seconds(3)

    func loop(worker: Int, shutdown: ShutdownFlag) async {
        var logger = self.logger
        logger[metadataKey: "worker"] = "\(worker)"
        while !shutdown.isSet && !Task.isCancelled {
            do {
                // No store call waits longer than a lease: past it, a claim or a job's end
                // would be stale anyway, and a lost connection cannot stall the loop.
                let claimed = try await StoreWaitLimit.$current.withValue(lease) {
                    let now = Date()
                    return try await store.claimNext(
                        now: now, worker: "\(processName)/\(worker)", leaseUntil: now.addingTimeInterval(lease.seconds))
                }
                if let job = claimed {
                    await StoreWaitLimit.$current.withValue(lease) { await runner.run(job, shutdown: shutdown) }
                    continue
                }
            } catch {
                logger.error("could not claim a job", metadata: ["error": "\(error)"])
            }
            await signal.wait(timeout: pollInterval)
        }
    }

    /// Every half lease: jobs whose lease ran out go back to the queue (or fail after too
    /// many attempts). Polls the shutdown flag often so it never holds up the exit.
    func sweepLoop(shutdown: ShutdownFlag) async {
        let interval = max(lease / 2, .milliseconds(200))
        var next = ContinuousClock.now + interval
        while !shutdown.isSet && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            guard ContinuousClock.now >= next, !shutdown.isSet else { continue }
            await StoreWaitLimit.$current.withValue(lease) { await sweep() }
            next = ContinuousClock.now + interval
        }
    }
}

/// Runs `tasks` side by side until all have returned. Once `shutdown` has begun, whatever
/// still runs `deadline` later is cancelled (a store call then returns at once, however
/// long the database would keep it waiting), so a stopping service never hangs on it.
func runWithShutdownDeadline(
    _ shutdown: ShutdownFlag, deadline: Duration, _ tasks: [@Sendable () async -> Void]
) async {
    await withTaskGroup(of: Bool.self) { group in
        for task in tasks {
            group.addTask {
                await task()
                return false
            }
        }
        // The watch: true once the deadline has passed (or it was cancelled: all returned).
        group.addTask {
            while !shutdown.isSet && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
            try? await Task.sleep(for: deadline)
            return true
        }
        var running = tasks.count
        for await deadlinePassed in group {
            if deadlinePassed {
                group.cancelAll()
            } else {
                running -= 1
                if running == 0 { group.cancelAll() }
            }
        }
    }
}

extension ProcessInfo {
    /// `host:pid`: who holds a claim, as `claimedBy` shows it.
    static var claimantName: String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }
}
