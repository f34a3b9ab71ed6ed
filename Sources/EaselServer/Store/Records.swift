import EaselDiffusion
import Foundation

/// The four states Leap clients know. A cancelled job ends `failed` with reason `cancelled`.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, processing, finished, failed

    /// Whether the job can no longer change.
    public var isTerminal: Bool { self == .finished || self == .failed }
}

/// A tenant: every API key, job, image and custom model belongs to exactly one.
public struct Workspace: Sendable, Equatable {
    public var id: String
    public var name: String
    /// Standard Webhooks secret (`whsec_<base64>`) used to sign this workspace's deliveries.
    public var webhookSecret: String
    public var createdAt: Date

    public init(id: String, name: String, webhookSecret: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.webhookSecret = webhookSecret
        self.createdAt = createdAt
    }
}

/// An API key as stored: only the SHA-256 of the key is kept, never the key.
public struct APIKeyRecord: Sendable, Equatable {
    /// Short public identifier (shown by `easel keys list`, used by `easel keys revoke`).
    public var id: String
    public var workspaceId: String
    public var keyHash: String
    public var createdAt: Date
    public var revokedAt: Date?

    public init(id: String, workspaceId: String, keyHash: String, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.workspaceId = workspaceId
        self.keyHash = keyHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// How a model's weights are laid out on disk.
public enum ModelFormat: String, Sendable, Codable {
    /// A diffusers folder (`model_index.json` plus one folder per component).
    case diffusers
    /// One original-layout `.safetensors` checkpoint file.
    case singleFile = "single-file"
}

/// An installed model. `workspaceId == nil` means public (installed by the operator).
public struct ModelRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var workspaceId: String?
    public var format: ModelFormat
    /// Path of the folder or file; relative paths are relative to the data directory.
    public var path: String
    /// True when `path` is a link to the operator's files rather than a copy we own.
    public var linked: Bool
    public var createdAt: Date
    public var subjectKeyword: String
    public var subjectType: String
    /// For a single file: a diffusers folder whose component configs (and tokenizer) it
    /// uses instead of its family's usual ones (relative to the data directory).
    public var configPath: String?
    /// The precision jobs on this model run in (`easel models add --precision`).
    public var precision: Precision
    /// Its LoRAs, tiny autoencoder and job defaults (`easel models add --lora ... --steps ...`).
    public var recipe: ModelRecipe

    public init(
        id: String, name: String, workspaceId: String?, format: ModelFormat, path: String, linked: Bool,
        createdAt: Date, subjectKeyword: String = "", subjectType: String = "", configPath: String? = nil,
        precision: Precision = .float32, recipe: ModelRecipe = .none
    ) {
        self.id = id
        self.name = name
        self.workspaceId = workspaceId
        self.format = format
        self.path = path
        self.linked = linked
        self.createdAt = createdAt
        self.subjectKeyword = subjectKeyword
        self.subjectType = subjectType
        self.configPath = configPath
        self.precision = precision
        self.recipe = recipe
    }
}

/// A generation job as stored.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    /// Insertion order: the queue order within a workspace and the list order.
    public var seq: Int64
    public var workspaceId: String
    public var modelId: String
    public var state: JobState
    public var prompt: String
    public var negativePrompt: String
    public var steps: Int
    public var width: Int
    public var height: Int
    /// Leap's `numberOfImages`.
    public var count: Int
    /// Leap's `promptStrength`.
    public var guidanceScale: Double
    public var seed: Int64
    /// Image to image: how far from the init image (stored beside the job); nil for text to image.
    public var strength: Double?
    public var webhookUrl: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var failureReason: String?
    public var cancelRequested: Bool
    /// How many times a worker has claimed the job (more than one after a crash).
    public var attempts: Int
    public var currentStep: Int?
    /// Mean measured seconds per denoising step in this job.
    public var secondsPerStep: Double?
    /// Seconds from claim to the first step: model load (or reuse) and prompt encoding.
    public var warmupSeconds: Double?

    /// The generation request with every default applied, without its init image (which
    /// the store keeps apart: `initImage(jobId:)`).
    public var parameters: GenerationRequest {
        GenerationRequest(
            prompt: prompt, negativePrompt: negativePrompt, steps: steps, width: width, height: height,
            seed: UInt64(max(seed, 0)), guidanceScale: guidanceScale, count: count)
    }

    /// What becomes of a job whose worker stopped (its lease ran out, or the server
    /// restarted): the reason to fail it with when it was cancelled or has had `maxAttempts`
    /// tries, else nil (it goes back to the queue). One rule for every store.
    public func abandonmentFailure(maxAttempts: Int) -> String? {
        if cancelRequested { return FailureReason.cancelled }
        if attempts >= maxAttempts { return "abandoned: its worker stopped \(attempts) times while generating this job" }
        return nil
    }
}

/// One generated image; its id is the unguessable part of its URI.
public struct ImageRecord: Sendable, Equatable {
    public var id: String
    public var jobId: String
    public var workspaceId: String
    public var position: Int
    public var fileName: String
    public var createdAt: Date

    public init(id: String, jobId: String, workspaceId: String, position: Int, fileName: String, createdAt: Date) {
        self.id = id
        self.jobId = jobId
        self.workspaceId = workspaceId
        self.position = position
        self.fileName = fileName
        self.createdAt = createdAt
    }
}

/// A job with its images: what the routes render.
public struct JobSnapshot: Sendable, Equatable {
    public var job: JobRecord
    public var images: [ImageRecord]
}

/// A job as GET shows it, from one read: the job, its images and, while it is queued, its
/// place in the queue (`queue.aheadInLane` holds this job only).
public struct JobView: Sendable, Equatable {
    public var snapshot: JobSnapshot
    /// Set when the job is queued.
    public var queue: QueueSnapshot?

    public init(snapshot: JobSnapshot, queue: QueueSnapshot?) {
        self.snapshot = snapshot
        self.queue = queue
    }
}

/// What a client asked for, validated, before it becomes a job.
public struct NewJob: Sendable {
    public var id: String
    public var workspaceId: String
    public var modelId: String
    /// With its init image, for image to image.
    public var parameters: GenerationRequest
    public var webhookUrl: String?
    public var createdAt: Date

    public init(
        id: String = UUID().uuidString.lowercased(), workspaceId: String, modelId: String,
        parameters: GenerationRequest, webhookUrl: String?, createdAt: Date = Date()
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.modelId = modelId
        self.parameters = parameters
        self.webhookUrl = webhookUrl
        self.createdAt = createdAt
    }
}

/// An `Idempotency-Key` presented with a submit.
public struct IdempotencyClaim: Sendable {
    public var key: String
    /// Hash of the request (model and body) so a reused key with a different request is caught.
    public var requestHash: String
    /// Keys older than this are forgotten.
    public var window: TimeInterval

    public init(key: String, requestHash: String, window: TimeInterval = 24 * 3600) {
        self.key = key
        self.requestHash = requestHash
        self.window = window
    }
}

/// The result of a submit.
public enum EnqueueOutcome: Sendable, Equatable {
    case created(JobRecord)
    /// The idempotency key was seen: the first job, not a new one.
    case replayed(JobRecord)
    /// The idempotency key was used for a different request.
    case idempotencyMismatch
    /// The workspace already has `queued` jobs waiting, at or over its limit.
    case tooManyQueued(Int)
}

/// The result of a cancel request.
public enum CancelOutcome: Sendable, Equatable {
    case notFound
    /// A queued job was failed with reason `cancelled` at once.
    case cancelledWhileQueued(JobRecord)
    /// A running job was flagged; the worker stops it at the next step.
    case requested(JobRecord)
    /// The job had already ended.
    case alreadyEnded(JobRecord)
}

/// Measurements of a finished generation.
public struct GenerationTimings: Sendable, Equatable {
    public var secondsPerStep: Double?
    public var warmupSeconds: Double?

    public init(secondsPerStep: Double?, warmupSeconds: Double?) {
        self.secondsPerStep = secondsPerStep
        self.warmupSeconds = warmupSeconds
    }
}

/// A snapshot of the queue used to compute each queued job's place in it.
public struct QueueSnapshot: Sendable, Equatable {
    /// One entry per workspace with queued jobs, in claim order (the next to be served first).
    public struct Lane: Sendable, Equatable {
        public var workspaceId: String
        public var queued: Int

        public init(workspaceId: String, queued: Int) {
            self.workspaceId = workspaceId
            self.queued = queued
        }
    }

    public var lanes: [Lane]
    /// For each queued job id in the asked workspace: how many of its own jobs are ahead.
    public var aheadInLane: [String: Int]
    public var processing: Int

    public init(lanes: [Lane], aheadInLane: [String: Int], processing: Int) {
        self.lanes = lanes
        self.aheadInLane = aheadInLane
        self.processing = processing
    }

    /// 1-based place of a queued job under round-robin claims: the jobs of other
    /// workspaces served before it in each round, plus its own jobs ahead.
    public func position(ofJob id: String, in workspaceId: String) -> Int? {
        guard let ahead = aheadInLane[id], let mine = lanes.firstIndex(where: { $0.workspaceId == workspaceId })
        else { return nil }
        var before = ahead
        for (index, lane) in lanes.enumerated() where index != mine {
            before += min(lane.queued, index < mine ? ahead + 1 : ahead)
        }
        return before + 1
    }
}

/// States of a webhook delivery.
public enum DeliveryState: String, Sendable {
    case pending, delivered, failed, refused
}

/// One webhook to send (durable: it survives restarts).
public struct WebhookDelivery: Sendable, Equatable {
    /// Also the `webhook-id` header, stable across retries.
    public var id: String
    public var jobId: String
    public var workspaceId: String
    public var url: String
    /// The job entity exactly as GET returned it when the job ended.
    public var payload: Data
    public var state: DeliveryState
    public var attempts: Int
    public var nextAttemptAt: Date
    public var createdAt: Date
    public var lastError: String?
    /// When it stopped being pending (nil while pending); retention counts from here.
    public var endedAt: Date? = nil
}

/// One recorded attempt at a delivery.
public struct WebhookAttempt: Sendable, Equatable {
    public var deliveryId: String
    public var number: Int
    public var at: Date
    public var statusCode: Int?
    public var error: String?
    public var durationMilliseconds: Double

    public init(deliveryId: String, number: Int, at: Date, statusCode: Int?, error: String?, durationMilliseconds: Double) {
        self.deliveryId = deliveryId
        self.number = number
        self.at = at
        self.statusCode = statusCode
        self.error = error
        self.durationMilliseconds = durationMilliseconds
    }
}
