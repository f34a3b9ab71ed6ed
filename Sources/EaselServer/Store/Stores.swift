import EaselDiffusion
import Foundation

/// Workspaces and their hashed API keys.
public protocol AccountStore: Sendable {
    /// Returns the workspace with this name, creating it (with a new webhook secret) if needed.
    func workspace(named name: String, createIfMissing: Bool) async throws -> Workspace?
    func workspaces() async throws -> [Workspace]
    func workspace(id: String) async throws -> Workspace?
    func addKey(_ key: APIKeyRecord) async throws
    func keys(workspaceId: String?) async throws -> [APIKeyRecord]
    /// Revokes by key id; returns false when no such active key exists.
    func revokeKey(id: String) async throws -> Bool
    /// The workspace owning an active key with this SHA-256 hash, if any.
    func authenticate(keyHash: String) async throws -> Workspace?
    /// Gives the workspace a new webhook signing secret (attempts from now on are signed
    /// with it) and returns the workspace; nil when there is no such workspace.
    func rotateWebhookSecret(workspaceId: String) async throws -> Workspace?
}

/// Installed models, public and per workspace.
public protocol ModelStore: Sendable {
    func addModel(_ model: ModelRecord) async throws
    func model(id: String) async throws -> ModelRecord?
    /// Public models plus the workspace's own (all models when `workspaceId` is nil).
    func models(visibleTo workspaceId: String?) async throws -> [ModelRecord]
    @discardableResult func removeModel(id: String) async throws -> ModelRecord?
}

/// Renders the webhook body of a job that just ended (the job entity exactly as GET shows it).
public typealias WebhookRenderer = @Sendable (JobSnapshot) throws -> Data

/// The durable job queue.
public protocol JobStore: Sendable {
    /// Commits the job as `queued` (or answers with the job an idempotency key already
    /// made, or refuses when the workspace has `maxQueued` jobs waiting), atomically.
    func enqueue(_ job: NewJob, idempotency: IdempotencyClaim?, maxQueued: Int) async throws -> EnqueueOutcome
    func job(id: String, workspaceId: String) async throws -> JobSnapshot?
    /// The job, its images and (while queued) its place in the queue, in one read: what a
    /// GET renders, consistent with itself, for one round trip to the database.
    func jobView(id: String, workspaceId: String) async throws -> JobView?
    /// An image by its id (any workspace: the caller checks ownership).
    func image(id: String) async throws -> ImageRecord?
    /// Which of these image file names a stored image (of any job) names.
    func referencedImageFiles(_ fileNames: [String]) async throws -> Set<String>
    /// The init image of an image-to-image job, nil for a text-to-image one.
    func initImage(jobId: String) async throws -> RGBImage?
    /// Newest first.
    func jobs(workspaceId: String, modelId: String, onlyFinished: Bool, offset: Int, limit: Int) async throws -> [JobSnapshot]
    /// Deletes the job, its image rows and its webhook deliveries (pending ones included, so
    /// a deleted job is never POSTed again) in one transaction; returns what was deleted so
    /// the files can go too.
    func deleteJob(id: String, workspaceId: String) async throws -> JobSnapshot?
    /// A queued job fails at once (reason `cancelled`, webhook queued); a processing one is flagged.
    func requestCancel(
        id: String, workspaceId: String, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> CancelOutcome
    /// Claims the next queued job: the workspace served least recently first, then its oldest
    /// job. The claim is `worker`'s until `leaseUntil`; the worker keeps it by renewing the
    /// lease. The claim is named by the returned job's `attempts`: every call below that takes
    /// an `attempt` does nothing once a later claim (or the job's end) has replaced it.
    func claimNext(now: Date, worker: String, leaseUntil: Date) async throws -> JobRecord?
    /// Moves the lease of claim `attempt` on to `until`; false when that claim is no longer
    /// held (its lease ran out and the job went back to the queue, or the job ended or went).
    func renewLease(id: String, attempt: Int, until: Date) async throws -> Bool
    /// Saves progress of a processing job; returns whether it should stop: cancellation was
    /// asked, or the job is gone, or (with `attempt`) the claim is no longer held.
    func recordProgress(
        id: String, attempt: Int?, step: Int, secondsPerStep: Double?, warmupSeconds: Double?
    ) async throws -> Bool
    /// `processing` -> `finished` with its images, and the webhook (if any) in the same transaction.
    /// Returns nil when the job is no longer processing under claim `attempt` (deleted
    /// meanwhile, or its lease ran out): a late result is discarded.
    func finish(
        id: String, attempt: Int?, images: [ImageRecord], timings: GenerationTimings, now: Date,
        webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot?
    /// `queued` or `processing` -> `failed` with a reason, and the webhook (if any); with
    /// `attempt`, only while that claim holds the job.
    func fail(
        id: String, attempt: Int?, reason: String, timings: GenerationTimings?, now: Date,
        webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot?
    /// `processing` -> `queued` (shutdown with the job unfinished); with `attempt`, only
    /// while that claim holds the job.
    func requeue(id: String, attempt: Int?) async throws
    /// Jobs `processing` whose lease ended before `leasesEndedBy` (their worker died or lost
    /// the database) are queued again, or failed once they have been claimed `maxAttempts`
    /// times (or were being cancelled). Returns both lists of ids.
    func recoverAbandoned(
        maxAttempts: Int, leasesEndedBy: Date, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> (requeued: [String], failed: [String])
    /// False for the embedded store (one process runs every worker, so at start every
    /// `processing` job was left by a dead process); true for a store that several worker
    /// processes share, where only an ended lease says a job was abandoned.
    var isSharedByProcesses: Bool { get }
    func queueSnapshot(workspaceId: String) async throws -> QueueSnapshot
    func countQueued() async throws -> Int
}

extension JobStore {
    /// A claim by this process's only worker, held for a minute (tools and tests).
    public func claimNext(now: Date) async throws -> JobRecord? {
        try await claimNext(now: now, worker: "local", leaseUntil: now.addingTimeInterval(60))
    }

    public func recordProgress(id: String, step: Int, secondsPerStep: Double?, warmupSeconds: Double?) async throws -> Bool {
        try await recordProgress(
            id: id, attempt: nil, step: step, secondsPerStep: secondsPerStep, warmupSeconds: warmupSeconds)
    }

    public func finish(
        id: String, images: [ImageRecord], timings: GenerationTimings, now: Date,
        webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot? {
        try await finish(id: id, attempt: nil, images: images, timings: timings, now: now, webhookPayload: webhookPayload)
    }

    public func fail(
        id: String, reason: String, timings: GenerationTimings?, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> JobSnapshot? {
        try await fail(id: id, attempt: nil, reason: reason, timings: timings, now: now, webhookPayload: webhookPayload)
    }

    public func requeue(id: String) async throws { try await requeue(id: id, attempt: nil) }

    /// Recovers jobs whose lease has ended by `now`.
    public func recoverAbandoned(
        maxAttempts: Int, now: Date, webhookPayload: @escaping WebhookRenderer
    ) async throws -> (requeued: [String], failed: [String]) {
        try await recoverAbandoned(maxAttempts: maxAttempts, leasesEndedBy: now, now: now, webhookPayload: webhookPayload)
    }
}

/// Durable webhook deliveries and the record of every attempt.
public protocol WebhookStore: Sendable {
    /// Takes up to `limit` pending deliveries due at `now`, leasing each until `leaseUntil`
    /// (it is not due again before then) in one write, so no two passes — or processes —
    /// take the same delivery; the attempt's outcome sets its next time.
    func claimDueDeliveries(now: Date, leaseUntil: Date, limit: Int) async throws -> [WebhookDelivery]
    /// The earliest time a pending delivery becomes due, if any.
    func nextDeliveryDue() async throws -> Date?
    /// Records an attempt and moves the delivery to its next state (an ended state stamps
    /// its end time). Does nothing when the delivery is gone (its job was deleted meanwhile).
    func recordAttempt(
        _ attempt: WebhookAttempt, newState: DeliveryState, nextAttemptAt: Date?
    ) async throws
    func deliveries(jobId: String) async throws -> [WebhookDelivery]
    func attempts(deliveryId: String) async throws -> [WebhookAttempt]
    /// Removes deliveries that ended (delivered, failed, refused) before `cutoff`, with
    /// their attempts; returns how many deliveries went.
    func pruneDeliveries(endedBefore cutoff: Date) async throws -> Int
}

/// Everything the server keeps. `SQLiteStore` is the embedded implementation,
/// `PostgresStore` the one any number of processes share; the routes and workers see only
/// this protocol, and the same store tests run against both.
public protocol EaselStore: AccountStore, ModelStore, JobStore, WebhookStore {}
