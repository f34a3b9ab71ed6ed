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
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    group.addTask { await loop(worker: index, shutdown: shutdown) }
                }
                group.addTask { await sweepLoop(shutdown: shutdown) }
            }
        } onGracefulShutdown: {
            shutdown.begin()
            // Wake every idle worker so it sees the flag.
            for _ in 0..<count { signal.signal() }
        }
        logger.info("workers stopped")
    }

    func loop(worker: Int, shutdown: ShutdownFlag) async {
        var logger = self.logger
        logger[metadataKey: "worker"] = "\(worker)"
        while !shutdown.isSet && !Task.isCancelled {
            do {
                let now = Date()
                if let job = try await store.claimNext(
                    now: now, worker: "\(processName)/\(worker)", leaseUntil: now.addingTimeInterval(lease.seconds))
                {
                    await runner.run(job, shutdown: shutdown)
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
            await sweep()
            next = ContinuousClock.now + interval
        }
    }
}

extension ProcessInfo {
    /// `host:pid`: who holds a claim, as `claimedBy` shows it.
    static var claimantName: String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }
}
