import Foundation

/// Leap's `InferenceEntity`, plus Easel's extras (all optional and omitted when unset, so
/// they never upset a Leap client).
struct InferenceEntity: Encodable, Sendable {
    var id: String
    var createdAt: String
    var prompt: String
    var negativePrompt: String
    var seed: Int64
    var width: Int
    var height: Int
    var promptStrength: Double
    var numberOfImages: Int
    var state: String
    var status: String
    var steps: Int
    var images: [InferenceImageEntity]
    var modelId: String
    var upscalingOption = "x1"

    // Easel extras.
    /// 1-based place in the queue (queued).
    var queuePosition: Int?
    /// Last completed denoising step and the total (processing).
    var currentStep: Int?
    var totalSteps: Int?
    /// From measured step times (queued or processing).
    var estimatedSecondsLeft: Double?
    var cancelRequested: Bool?
    /// Image to image: the strength the job was given (its init image is not echoed back).
    var strength: Double?
    /// Why the job failed (`cancelled` when it was cancelled).
    var errorReason: String?
    var startedAt: String?
    var finishedAt: String?
    var timings: InferenceTimings?
    /// The latest live preview (processing): a small picture of the image so far.
    var preview: InferencePreviewEntity?
}

/// Easel's live preview of a running job: the step it shows and where to get it (with the key).
struct InferencePreviewEntity: Encodable, Sendable {
    var step: Int
    var uri: String
}

/// Leap's `InferenceImageEntity`.
struct InferenceImageEntity: Encodable, Sendable {
    var id: String
    var createdAt: String
    var uri: String
}

/// How long each phase took (ended jobs), in seconds.
struct InferenceTimings: Encodable, Sendable {
    var queuedSeconds: Double?
    /// Claim to first step done: model load (or warm reuse), prompt encoding, one step.
    var warmupSeconds: Double?
    var secondsPerStep: Double?
    var generationSeconds: Double?
    var totalSeconds: Double?
}

/// Turns stored jobs into the wire entity: absolute image URIs under the public base URL,
/// queue place and time estimates for live jobs, timings for ended ones.
struct InferenceRenderer: Sendable {
    let baseURL: PublicBaseURL
    let estimator: ThroughputEstimator
    let workers: Int
    let previews: PreviewStore

    func entity(_ snapshot: JobSnapshot, queue: QueueSnapshot? = nil, now: Date = Date()) -> InferenceEntity {
        let job = snapshot.job
        let base = baseURL.value
        var entity = InferenceEntity(
            id: job.id, createdAt: ISOTime.string(job.createdAt), prompt: job.prompt,
            negativePrompt: job.negativePrompt, seed: job.seed, width: job.width, height: job.height,
            promptStrength: job.guidanceScale, numberOfImages: job.count, state: job.state.rawValue,
            status: job.state.rawValue, steps: job.steps,
            images: snapshot.images.map {
                InferenceImageEntity(id: $0.id, createdAt: ISOTime.string($0.createdAt), uri: "\(base)/images/\($0.fileName)")
            },
            modelId: job.modelId)
        entity.strength = job.strength
        entity.startedAt = job.startedAt.map(ISOTime.string)
        entity.finishedAt = job.finishedAt.map(ISOTime.string)
        switch job.state {
        case .queued:
            let position = queue?.position(ofJob: job.id, in: job.workspaceId)
            entity.queuePosition = position
            if let position, let perJob = estimator.secondsPerJob(job.parameters) {
                let rounds = Double((position - 1) / max(workers, 1) + 1)
                entity.estimatedSecondsLeft = Self.rounded(rounds * perJob)
            }
        case .processing:
            let step = job.currentStep ?? 0
            entity.currentStep = step
            entity.totalSteps = job.steps
            entity.cancelRequested = job.cancelRequested ? true : nil
            if let perStep = job.secondsPerStep ?? estimator.secondsPerStep(for: job.parameters) {
                entity.estimatedSecondsLeft = Self.rounded(Double(job.steps - step) * perStep)
            }
            if let preview = previews.latest(jobId: job.id) {
                entity.preview = InferencePreviewEntity(step: preview.step, uri: previewURI(modelId: job.modelId, jobId: job.id))
            }
        case .finished, .failed:
            entity.errorReason = job.state == .failed ? (job.failureReason ?? "unknown") : nil
            entity.timings = timings(job)
        }
        return entity
    }

    /// Where a running job's latest preview is served (`InferencesController.preview`).
    func previewURI(modelId: String, jobId: String) -> String {
        "\(baseURL.value)/api/v1/images/models/\(modelId)/inferences/\(jobId)/preview.png"
    }

    func timings(_ job: JobRecord) -> InferenceTimings {
        func seconds(_ from: Date?, _ to: Date?) -> Double? {
            guard let from, let to else { return nil }
            return Self.rounded(to.timeIntervalSince(from))
        }
        return InferenceTimings(
            queuedSeconds: seconds(job.createdAt, job.startedAt),
            warmupSeconds: job.warmupSeconds.map(Self.rounded),
            secondsPerStep: job.secondsPerStep.map(Self.rounded),
            generationSeconds: seconds(job.startedAt, job.finishedAt),
            totalSeconds: seconds(job.createdAt, job.finishedAt))
    }

    /// The JSON of a job exactly as GET returns it (also the webhook body): written by
    /// hand (`InferenceEntity.json()`), the same bytes as `WireJSON.encode` of the entity.
    func json(_ snapshot: JobSnapshot, queue: QueueSnapshot? = nil) throws -> Data {
        try entity(snapshot, queue: queue).json()
    }

    /// Millisecond precision keeps the JSON short and stable.
    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}
