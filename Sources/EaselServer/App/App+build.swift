import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

/// Everything the routes and workers share, built once from the configuration. Tests
/// build it with a temporary data directory and a stand-in generator.
public struct ServerComponents: Sendable {
    public let configuration: ServerConfiguration
    public let store: any EaselStore
    public let images: any ImageStore
    public let generator: any ImageGenerator
    public let events: JobEventHub
    /// Wakes the workers when a job is queued.
    public let workSignal: WakeSignal
    /// Wakes the webhook dispatcher when a delivery is queued.
    public let webhookSignal: WakeSignal
    public let publicURL: PublicBaseURL
    public let estimator: ThroughputEstimator
    /// Workspaces of recently used API keys (`configuration.keyCacheTTL`).
    public let keyCache: APIKeyCache
    public let logger: Logger

    public init(
        configuration: ServerConfiguration, store: any EaselStore, images: any ImageStore,
        generator: any ImageGenerator, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.images = images
        self.generator = generator
        self.logger = logger
        events = JobEventHub()
        workSignal = WakeSignal()
        webhookSignal = WakeSignal()
        publicURL = PublicBaseURL(
            configured: configuration.publicURL, host: configuration.host, port: configuration.port)
        estimator = ThroughputEstimator()
        keyCache = APIKeyCache(ttl: configuration.keyCacheTTL)
    }

    /// Opens the data directory's SQLite store and image folder.
    public static func open(
        configuration: ServerConfiguration, generator: any ImageGenerator, logger: Logger
    ) throws -> ServerComponents {
        try tightenDataDirectory(configuration, logger: logger)
        return ServerComponents(
            configuration: configuration, store: try configuration.dataDirectory.openStore(),
            images: try configuration.dataDirectory.imageStore(), generator: generator, logger: logger)
    }

    /// Opens the configured store (PostgreSQL when `databaseURL` is set, else the data
    /// directory's SQLite) and the image folder.
    public static func connect(
        configuration: ServerConfiguration, generator: any ImageGenerator, logger: Logger
    ) async throws -> ServerComponents {
        try tightenDataDirectory(configuration, logger: logger)
        let store = try await configuration.dataDirectory.openStore(databaseURL: configuration.databaseURL, logger: logger)
        return ServerComponents(
            configuration: configuration, store: store, images: try configuration.dataDirectory.imageStore(),
            generator: generator, logger: logger)
    }

    private static func tightenDataDirectory(_ configuration: ServerConfiguration, logger: Logger) throws {
        let tightened = try configuration.dataDirectory.makePrivate()
        if !tightened.isEmpty {
            logger.warning(
                "data directory was readable by other users; removed group and other permissions",
                metadata: [
                    "data_dir": "\(configuration.dataDirectory.root.path)", "paths_changed": "\(tightened.count)",
                    "first": "\(tightened.prefix(5).joined(separator: ", "))",
                ])
        }
    }

    /// Live previews of running jobs, beside the images in the data directory.
    public var previews: PreviewStore { PreviewStore(folder: configuration.dataDirectory.previewsFolder) }

    var renderer: InferenceRenderer {
        InferenceRenderer(baseURL: publicURL, estimator: estimator, workers: configuration.workers, previews: previews)
    }
}

/// Builds the server: routes, middleware, workers and webhook delivery as services. The
/// same in tests (`app.test(.router)` / `.live`) and in `easel serve` (`runService()`).
///
/// Before returning it re-queues jobs a crash left `processing` (or fails those that keep
/// crashing the server), so nothing submitted is lost: with the embedded store every such
/// job (this process is its only worker process), with a shared store those whose lease
/// ran out. While it runs, the workers' sweep does the same for leases that run out.
public func buildApplication(_ components: ServerComponents) async throws -> some ApplicationProtocol {
    let configuration = components.configuration
    let logger = components.logger
    let renderer = components.renderer
    let store = components.store
    let events = components.events
    let webhookSignal = components.webhookSignal
    let workSignal = components.workSignal
    let maxAttempts = configuration.maxAttemptsPerJob
    @Sendable func recover(leasesEndedBy: Date, reason: String) async throws {
        let recovered = try await store.recoverAbandoned(
            maxAttempts: maxAttempts, leasesEndedBy: leasesEndedBy, now: Date(),
            webhookPayload: { try renderer.json($0) })
        for id in recovered.requeued {
            logger.info("job transition", metadata: ["job.id": "\(id)", "from": "processing", "to": "queued", "reason": "\(reason)"])
            events.publish(jobId: id, .state(.queued))
        }
        for id in recovered.failed {
            logger.warning("job transition", metadata: ["job.id": "\(id)", "from": "processing", "to": "failed", "reason": "\(reason)"])
            events.publish(jobId: id, .state(.failed))
        }
        if !recovered.requeued.isEmpty { workSignal.signal() }
        if !recovered.failed.isEmpty { webhookSignal.signal() }
    }
    // An API-only process (no workers) leaves `processing` jobs to the processes running them.
    if configuration.runningWorkers > 0 {
        try await recover(leasesEndedBy: store.isSharedByProcesses ? Date() : .distantFuture, reason: "restart")
    }

    let router = Router(context: EaselRequestContext.self)
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: StoreWaitLimitMiddleware(limit: configuration.storeWaitLimit))
    router.addRoutes(ServiceController(components: components).endpoints)
    if configuration.role != .worker {
        addAPIRoutes(to: router, components: components)
    }

    let runner = JobRunner(
        store: components.store, images: components.images, generator: components.generator,
        events: components.events, renderer: renderer, estimator: components.estimator,
        webhookSignal: components.webhookSignal, dataDirectory: configuration.dataDirectory.root,
        shutdownGrace: configuration.shutdownGrace, lease: configuration.jobLease, logger: logger)
    let workers = GenerationWorkers(
        runner: runner, store: components.store, count: configuration.runningWorkers, signal: components.workSignal,
        pollInterval: configuration.queuePollInterval, lease: configuration.jobLease,
        processName: ProcessInfo.claimantName,
        sweep: {
            do {
                try await recover(leasesEndedBy: Date(), reason: "lease expired")
            } catch {
                logger.error("could not recover jobs whose lease ran out", metadata: ["error": "\(error)"])
            }
        },
        logger: logger)
    let webhooks = WebhookDispatcher(
        store: components.store, policy: configuration.webhooks, signal: components.webhookSignal,
        pollInterval: configuration.queuePollInterval, logger: logger)
    // Services shut down in reverse order: the HTTP server first, then the image sweeper,
    // webhooks, then the workers (which finish or re-queue the job in hand).
    var services: [any Service] = [workers, webhooks]
    if let feed = components.store as? any JobNotificationFeed {
        services.append(
            JobNotificationRelay(
                feed: feed, events: configuration.role == .worker ? nil : components.events,
                workSignal: configuration.runningWorkers > 0 ? components.workSignal : nil))
    }
    if configuration.runningWorkers > 0 {
        let sweeper = OrphanImageSweeper(
            images: components.images, store: components.store, minimumAge: configuration.orphanImageAge,
            logger: logger)
        services.append(OrphanImageSweeps(sweeper: sweeper, interval: configuration.orphanSweepInterval, logger: logger))
    }
    let publicURL = components.publicURL
    let connections = configuration.connections
    return Application(
        router: HeadAsGet(base: router),
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [
                    RequestReadDeadlineHandler(timeout: .init(connections.requestReadTimeout)),
                    ClientDisconnectWatcher(),
                ],
                idleTimeout: .init(connections.idleTimeout))),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: "Easel",
            availableConnectionsDelegate: MaximumAvailableConnections(connections.maxConnections, logger: logger)),
        services: services,
        onServerRunning: { channel in
            publicURL.bind(channel.localAddress)
            logger.info("listening", metadata: ["address": "\(publicURL.value)"])
        },
        logger: logger)
}

/// The playground, the images and both front doors (Leap's and OpenAI's): everything but
/// `/health`, which every role answers.
private func addAPIRoutes(to router: Router<EaselRequestContext>, components: ServerComponents) {
    router.addRoutes(PlaygroundController().endpoints)
    router.addRoutes(ImagesController(components: components).endpoints, atPath: "/images")
    let api = router.group("api").add(middleware: AuthMiddleware(store: components.store, keys: components.keyCache))
    api.addRoutes(InferencesController(components: components).endpoints, atPath: "/v1/images/models/:modelId/inferences")
    api.addRoutes(
        WebhookDeliveriesController(components: components).endpoints, atPath: "/v1/images/models/:modelId/inferences")
    api.addRoutes(ModelsController(components: components).endpoints, atPath: "/v2/images/models")
    let openAI = router.group("v1").add(middleware: OpenAIErrorMiddleware()).add(
        middleware: AuthMiddleware(store: components.store, keys: components.keyCache))
    openAI.addRoutes(OpenAIImagesController(components: components).endpoints)
}
