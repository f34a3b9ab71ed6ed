import EaselDiffusion
import Foundation
import Logging

/// Set once when the server starts shutting down; running jobs get a grace period.
public final class ShutdownFlag: Sendable {
    private let state = Locked<(begun: Bool, handlers: [UUID: @Sendable () -> Void])>((false, [:]))

    public init() {}

    public var isSet: Bool { state.current.begun }

    public func begin() {
        let handlers = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.begun else { return [] }
            state.begun = true
            defer { state.handlers.removeAll() }
            return Array(state.handlers.values)
        }
        for handler in handlers { handler() }
    }

    /// Calls `handler` when shutdown begins (at once if it has). Returns a remover.
    func onBegin(_ handler: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let token = UUID()
        let already = state.withLock { state -> Bool in
            if state.begun { return true }
            state.handlers[token] = handler
            return false
        }
        if already { handler() }
        return { [weak self] in self?.state.withLock { _ = $0.handlers.removeValue(forKey: token) } }
    }
}

/// Why the generator is being asked to stop.
final class StopControl: Sendable {
    private let flags = Locked<(cancelled: Bool, shutdown: Bool, leaseLost: Bool)>((false, false, false))
    func cancel() { flags.withLock { $0.cancelled = true } }
    func stopForShutdown() { flags.withLock { $0.shutdown = true } }
    /// The claim ran out (this worker could not renew it in time) and the job is another's.
    func loseLease() { flags.withLock { $0.leaseLost = true } }
    var cancelled: Bool { flags.current.cancelled }
    var shuttingDown: Bool { flags.current.shutdown }
    var leaseLost: Bool { flags.current.leaseLost }
    var shouldStop: Bool { flags.current.cancelled || flags.current.shutdown || flags.current.leaseLost }
}

/// Runs one claimed job to its end: generation with progress and cancellation, images
/// written, then `finished` or `failed` (or back to `queued` when the server stops first).
struct JobRunner: Sendable {
    let store: any EaselStore
    let images: any ImageStore
    let generator: any ImageGenerator
    let events: JobEventHub
    let renderer: InferenceRenderer
    let estimator: ThroughputEstimator
    let webhookSignal: WakeSignal
    let dataDirectory: URL
    let shutdownGrace: Duration
    /// How long a claim holds; renewed every third of it while the job runs.
    let lease: Duration
    let logger: Logger

    /// Where running jobs' live previews go (the renderer's, so the entity finds them).
    var previews: PreviewStore { renderer.previews }

    func run(_ job: JobRecord, shutdown: ShutdownFlag) async {
        var logger = self.logger
        logger[metadataKey: "job.id"] = "\(job.id)"
        logger[metadataKey: "workspace.id"] = "\(job.workspaceId)"
        logger.info(
            "job transition", metadata: ["from": "queued", "to": "processing", "attempt": "\(job.attempts)"])
        events.publish(jobId: job.id, .state(.processing))

        let found: ModelRecord?
        do {
            found = try await whileUnavailable { try await store.model(id: job.modelId) }
        } catch {
            // Not the job's fault: it stays claimed, and goes back to the queue when its lease ends.
            logger.error("could not read the job's model", metadata: ["error": "\(error)"])
            return
        }
        guard let record = found else {
            await fail(job, reason: "model \(job.modelId) is not installed", timings: nil, logger: logger)
            return
        }
        let model = InstalledModel(record: record, dataDirectory: dataDirectory)
        let request: GenerationRequest
        do {
            request = try await whileUnavailable { try await generationRequest(for: job) }
        } catch is StoreUnavailable {
            logger.error("could not read the job's init image", metadata: ["error": "database unavailable"])
            return
        } catch {
            await fail(job, reason: "\(error)", timings: nil, logger: logger)
            return
        }
        let control = StopControl()
        let heartbeat = renewLease(of: job, control: control, logger: logger)
        defer { heartbeat.cancel() }
        let (cancelEvents, cancelFeed) = AsyncStream.makeStream(of: JobEvent.self)
        let unsubscribe = events.subscribe(jobId: job.id, cancelFeed)
        let cancelWatcher = Task {
            for await event in cancelEvents where event == .cancelRequested || event == .deleted { control.cancel() }
        }
        // A cancel asked between the claim and the subscription above was published to nobody;
        // its flag is in the store. (Otherwise it would wait for the first step's progress
        // record, which a long model load, or a test's generator held at a gate, delays.)
        // A job deleted meanwhile stops too; a store that cannot answer is asked again at the
        // first step.
        if let asked = try? await store.job(id: job.id, workspaceId: job.workspaceId)?.job.cancelRequested ?? true,
           asked {
            control.cancel()
        }
        let grace = shutdownGrace
        let graceTimer = Locked<Task<Void, Never>?>(nil)
        let removeShutdownHandler = shutdown.onBegin {
            graceTimer.withLock {
                $0 = Task {
                    try? await Task.sleep(for: grace)
                    control.stopForShutdown()
                }
            }
        }
        defer {
            unsubscribe()
            cancelFeed.finish()
            cancelWatcher.cancel()
            removeShutdownHandler()
            graceTimer.current?.cancel()
        }

        let progress = ProgressRecorder(
            jobId: job.id, attempt: job.attempts, store: store, events: events, control: control, previews: previews)
        let result: Result<GenerationResult, any Error>
        do {
            // The engine runs on its own thread: task cancellation reaches it as a stop flag.
            let generated = try await withTaskCancellationHandler {
                try await generator.generate(
                    model: model, request: request, onStep: progress.onStep, onPreview: progress.onPreview,
                    isCancelled: { control.shouldStop })
            } onCancel: {
                control.stopForShutdown()
            }
            result = .success(generated)
        } catch {
            result = .failure(error)
        }
        let timings = await progress.finish()
        heartbeat.cancel()

        if control.leaseLost {
            // Another worker may run it now: this result is not ours to record.
            logger.warning("job lease lost: another worker has the job; this attempt's result is discarded")
            return
        }
        previews.remove(jobId: job.id)
        switch result {
        case .success(let generated):
            await complete(job, request: request, model: model.name, generated: generated, timings: timings,
                           logger: logger)
        case .failure(let error):
            if (control.shuttingDown || Task.isCancelled) && !control.cancelled {
                await requeue(job, logger: logger)
            } else if control.cancelled || (error as? ImageGenerationError) == .cancelled {
                await fail(job, reason: FailureReason.cancelled, timings: timings, logger: logger)
            } else {
                await fail(job, reason: String(describing: error), timings: timings, logger: logger)
            }
        }
    }

    /// Runs `read` again while the database is unreachable (a connection lost in the middle
    /// of a query fails at once, where a new call waits for the database), for up to the
    /// task's store wait limit (a lease); other errors are thrown as they come.
    func whileUnavailable<T>(_ read: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + (StoreWaitLimit.current ?? lease)
        while true {
            do {
                return try await read()
            } catch is StoreUnavailable where ContinuousClock.now < deadline && !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// Renews the job's lease every third of it until cancelled; when the claim is found
    /// gone (the lease ran out meanwhile), stops the generation.
    func renewLease(of job: JobRecord, control: StopControl, logger: Logger) -> Task<Void, Never> {
        let store = self.store
        let lease = self.lease
        return Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: lease / 3)
                if Task.isCancelled { return }
                do {
                    let held = try await store.renewLease(
                        id: job.id, attempt: job.attempts, until: Date().addingTimeInterval(lease.seconds))
                    if !held {
                        control.loseLease()
                        return
                    }
                } catch {
                    // The database may come back before the lease ends: keep trying.
                    logger.warning("could not renew the job's lease", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// The job as the engine takes it, with its init image read back from the store.
    func generationRequest(for job: JobRecord) async throws -> GenerationRequest {
        var request = job.parameters
        if let strength = job.strength {
            guard let image = try await store.initImage(jobId: job.id) else {
                throw StoreError.corrupt("job \(job.id) asks for image to image but its init image is missing")
            }
            request.initImage = InitImage(image: image, strength: strength)
        }
        return request
    }

    func complete(_ job: JobRecord, request: GenerationRequest, model: String, generated: GenerationResult,
                  timings: GenerationTimings, logger: Logger) async {
        if let problem = OutputCheck.problem(generated.images, expecting: request) {
            await fail(job, reason: "engine returned bad output: \(problem)", timings: timings, logger: logger)
            return
        }
        var written: [ImageRecord] = []
        do {
            // PNG encoding is CPU work: off the cooperative pool, like the engine.
            let pngs = try await EngineThread.run {
                try generated.images.enumerated().map { index, image in
                    try image.pngData(
                        metadata: request.pngMetadata(model: model, scheduler: generated.scheduler, index: index + 1))
                }
            }
            let now = Date()
            for (position, png) in pngs.enumerated() {
                let id = Credentials.newImageId()
                let name = try images.write(png, imageId: id)
                written.append(
                    ImageRecord(
                        id: id, jobId: job.id, workspaceId: job.workspaceId, position: position, fileName: name,
                        createdAt: now))
            }
            let renderer = self.renderer
            let finished: JobSnapshot?
            do {
                finished = try await store.finish(
                    id: job.id, attempt: job.attempts, images: written, timings: timings, now: Date(),
                    webhookPayload: { try renderer.json($0) })
            } catch {
                // The database may or may not have committed (it went away mid-answer): the
                // files stay (the orphan sweeper removes them if the job does not name them),
                // and the job, if still processing, goes back to the queue when its lease ends.
                logger.error(
                    "could not record the finished job; it is run again once its lease ends unless it was recorded",
                    metadata: ["error": "\(error)"])
                return
            }
            guard let ended = finished else {
                for image in written { images.delete(fileName: image.fileName) }
                logger.info("job deleted, or its lease lost, while processing; its images were discarded")
                return
            }
            if let perStep = timings.secondsPerStep { estimator.record(secondsPerStep: perStep, parameters: job.parameters) }
            logger.info(
                "job transition",
                metadata: [
                    "from": "processing", "to": "finished", "images": "\(written.count)",
                    "seconds": "\(renderer.timings(ended.job).generationSeconds ?? 0)",
                ])
            events.publish(jobId: job.id, .state(.finished))
            if job.webhookUrl != nil { webhookSignal.signal() }
        } catch {
            for image in written { images.delete(fileName: image.fileName) }
            await fail(job, reason: "could not store the images: \(error)", timings: timings, logger: logger)
        }
    }

    func fail(_ job: JobRecord, reason: String, timings: GenerationTimings?, logger: Logger) async {
        let renderer = self.renderer
        do {
            guard
                try await store.fail(
                    id: job.id, attempt: job.attempts, reason: reason, timings: timings, now: Date(),
                    webhookPayload: { try renderer.json($0) }) != nil
            else { return }
            logger.info("job transition", metadata: ["from": "processing", "to": "failed", "reason": "\(reason)"])
            events.publish(jobId: job.id, .state(.failed))
            if job.webhookUrl != nil { webhookSignal.signal() }
        } catch {
            logger.error("could not mark job failed", metadata: ["error": "\(error)", "reason": "\(reason)"])
        }
    }

    func requeue(_ job: JobRecord, logger: Logger) async {
        do {
            try await store.requeue(id: job.id, attempt: job.attempts)
            logger.info("job transition", metadata: ["from": "processing", "to": "queued", "reason": "shutdown"])
            events.publish(jobId: job.id, .state(.queued))
        } catch {
            logger.error("could not re-queue job (it is re-queued on next start)", metadata: ["error": "\(error)"])
        }
    }
}

/// Turns the engine's per-step callbacks into stored progress, step events and timings,
/// in order, off the engine's thread. Also notices cancellation asked in the store
/// (e.g. by another process).
final class ProgressRecorder: Sendable {
    typealias Tick = (step: Int, total: Int, at: ContinuousClock.Instant)
    private let feed: AsyncStream<Tick>.Continuation
    private let consumer: Task<GenerationTimings, Never>

    private let previewSink: @Sendable (Int, RGBImage) -> Void

    init(jobId: String, attempt: Int, store: any JobStore, events: JobEventHub, control: StopControl,
         previews: PreviewStore) {
        // Called on the engine's thread between steps: a small PNG (latent size, or the tiny
        // autoencoder's picture) encoded and written there, then announced.
        previewSink = { step, image in
            guard let png = try? image.pngData(), (try? previews.write(png, jobId: jobId, step: step)) != nil else { return }
            events.publish(jobId: jobId, .preview(step: step))
        }
        let start = ContinuousClock.now
        let (ticks, feed) = AsyncStream.makeStream(of: Tick.self)
        self.feed = feed
        consumer = Task {
            var firstStepAt: ContinuousClock.Instant?
            var warmup: Double?
            var perStep: Double?
            for await tick in ticks {
                if firstStepAt == nil {
                    firstStepAt = tick.at
                    warmup = (tick.at - start).seconds
                }
                if let first = firstStepAt, tick.step > 1 {
                    perStep = (tick.at - first).seconds / Double(tick.step - 1)
                }
                let cancelAsked =
                    (try? await store.recordProgress(
                        id: jobId, attempt: attempt, step: tick.step, secondsPerStep: perStep, warmupSeconds: warmup)) ?? false
                if cancelAsked { control.cancel() }
                events.publish(jobId: jobId, .step(tick.step, of: tick.total))
            }
            // One step only: its time is the best per-step figure there is.
            if perStep == nil, let warmup { perStep = warmup }
            return GenerationTimings(secondsPerStep: perStep, warmupSeconds: warmup)
        }
    }

    var onPreview: @Sendable (Int, RGBImage) -> Void { previewSink }

    var onStep: @Sendable (Int, Int) -> Void {
        let feed = self.feed
        return { step, total in feed.yield((step, total, ContinuousClock.now)) }
    }

    /// Waits until every reported step was recorded, then returns the timings; cancelled,
    /// it stops recording (the worker is stopping and the store may not answer).
    func finish() async -> GenerationTimings {
        feed.finish()
        let consumer = self.consumer
        return await withTaskCancellationHandler { await consumer.value } onCancel: { consumer.cancel() }
    }
}

/// Checks the engine kept its promise: one image per requested image, of the asked size.
enum OutputCheck {
    static func problem(_ images: [RGBImage], expecting request: GenerationRequest) -> String? {
        if images.count != request.count { return "\(images.count) images for \(request.count) asked" }
        for (index, image) in images.enumerated() where (image.width, image.height) != (request.width, request.height) {
            return "image \(index) is \(image.width)x\(image.height), not \(request.width)x\(request.height)"
        }
        return nil
    }
}
