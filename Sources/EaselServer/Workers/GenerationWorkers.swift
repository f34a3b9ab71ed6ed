import Foundation
import Logging
import ServiceLifecycle

/// The queue workers, as one ServiceLifecycle service: `count` loops that each claim the
/// next job (fairly across workspaces), run it, and repeat. On graceful shutdown (SIGTERM)
/// they stop claiming; the job in hand gets `shutdownGrace` to finish, then is stopped at
/// the next step and re-queued, and the service returns.
struct GenerationWorkers: Service {
    let runner: JobRunner
    let store: any JobStore
    let count: Int
    let signal: WakeSignal
    let pollInterval: Duration
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
                if let job = try await store.claimNext(now: Date()) {
                    await runner.run(job, shutdown: shutdown)
                    continue
                }
            } catch {
                logger.error("could not claim a job", metadata: ["error": "\(error)"])
            }
            await signal.wait(timeout: pollInterval)
        }
    }
}
