import Foundation
import Hummingbird
import Logging

/// Queueing and cancelling a job, the same for every front door (Leap's routes and the
/// OpenAI route): the store call, the log line, waking the workers or the webhook
/// dispatcher, and the 429 a full queue answers.
struct JobActions: Sendable {
    let components: ServerComponents

    /// Writes the job as `queued` (or finds the job an idempotency key already made).
    /// A full queue throws 429 with `Retry-After`.
    func enqueue(
        _ input: ValidatedInference, model: ModelRecord, workspace: Workspace, idempotency: IdempotencyClaim?,
        logger: Logger
    ) async throws -> EnqueueOutcome {
        let limits = components.configuration.limits
        let newJob = NewJob(
            workspaceId: workspace.id, modelId: model.id, parameters: input.parameters, webhookUrl: input.webhookUrl)
        let outcome = try await components.store.enqueue(
            newJob, idempotency: idempotency, maxQueued: limits.maxQueuedPerWorkspace)
        switch outcome {
        case .created(let job):
            logger.info(
                "job transition",
                metadata: ["job.id": "\(job.id)", "workspace": "\(workspace.name)", "from": "none", "to": "queued"])
            components.workSignal.signal()
        case .tooManyQueued(let waiting):
            throw APIError(
                .tooManyRequests,
                "This workspace has \(waiting) jobs waiting (limit \(limits.maxQueuedPerWorkspace)); retry later",
                headers: [.retryAfter: "\(Self.retryAfterSeconds(components.estimator.secondsPerJob(input.parameters)))"])
        case .replayed, .idempotencyMismatch:
            break
        }
        return outcome
    }

    /// Stops a queued job at once (failed, reason `cancelled`) or flags a running one for
    /// its worker, and tells the job's followers.
    func cancel(jobId: String, workspaceId: String, logger: Logger) async throws -> CancelOutcome {
        let renderer = components.renderer
        let outcome = try await components.store.requestCancel(
            id: jobId, workspaceId: workspaceId, now: Date(), webhookPayload: { try renderer.json($0) })
        switch outcome {
        case .cancelledWhileQueued(let job):
            logger.info(
                "job transition",
                metadata: ["job.id": "\(job.id)", "from": "queued", "to": "failed", "reason": "cancelled"])
            components.events.publish(jobId: job.id, .state(.failed))
            if job.webhookUrl != nil { components.webhookSignal.signal() }
        case .requested(let job):
            components.events.publish(jobId: job.id, .cancelRequested)
        case .notFound, .alreadyEnded:
            break
        }
        return outcome
    }

    /// Whole seconds for `Retry-After`: 1 to 3600, and 30 when nothing was measured yet. The
    /// estimate is clamped as a `Double` first, so an odd measurement cannot trap the conversion.
    static func retryAfterSeconds(_ estimate: Double?) -> Int {
        guard let estimate, estimate.isFinite else { return 30 }
        return Int(exactly: min(max(estimate, 1), 3600).rounded(.up)) ?? 30
    }
}
