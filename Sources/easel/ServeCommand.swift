import ArgumentParser
import EaselDiffusion
import EaselServer
import Foundation
import Logging

/// `easel serve`: the Leap-compatible HTTP service with its in-process workers.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Leap-compatible image API (answers GET /health with 200 once ready).")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port).") var port = 8080
    @OptionGroup var data: DataDirectoryOption
    @Option(help: "all: API and workers; api: requests and images, no jobs; worker: runs jobs, answers only /health.")
    var role = "all"
    @Option(help: "Jobs generated at the same time (0: API only, another process generates); see README.") var workers = 2
    @Option(name: .customLong("public-url"), help: "Base of image URIs, e.g. https://easel.example.com.")
    var publicURL: String?
    @Flag(
        name: .customLong("allow-private-webhooks"),
        help: "Deliver webhooks to addresses that are not globally routable (loopback, private, link-local, ...).")
    var allowPrivateWebhooks = false

    @Flag(name: .customLong("no-bundled-model"), help: "Do not install Easel's bundled model (\(BundledModel.name)) on start.")
    var noBundledModel = false

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body.") var maxBodyBytes = 64 * 1024
    @Option(name: .customLong("max-prompt-length"), help: "Longest prompt, in Unicode code points.") var maxPromptLength = 2000
    @Option(name: .customLong("max-steps"), help: "Most denoising steps per job.") var maxSteps = 150
    @Option(name: .customLong("max-pixels-per-image"), help: "Largest width x height.")
    var maxPixelsPerImage = 1024 * 1024
    @Option(name: .customLong("max-pixels-per-job"), help: "Largest width x height x numberOfImages.")
    var maxPixelsPerJob = 4 * 1024 * 1024
    @Option(name: .customLong("max-queued-per-workspace"), help: "Jobs a workspace may have waiting (429 beyond).")
    var maxQueuedPerWorkspace = 100
    @Option(name: .customLong("model-cache-mb"), help: "Memory warm models may hold together, in MiB.")
    var modelCacheMB = 8192
    @Option(name: .customLong("webhook-attempts"), help: "Attempts per webhook, the first included.")
    var webhookAttempts = 5
    @Option(name: .customLong("webhook-timeout"), help: "Seconds allowed per webhook attempt.")
    var webhookTimeout = 10
    @Option(name: .customLong("webhook-retention-days"), help: "Days ended webhook deliveries and their attempts are kept.")
    var webhookRetentionDays = 7
    @Option(name: .customLong("shutdown-grace"), help: "Seconds the job in hand may take to finish on SIGTERM.")
    var shutdownGrace = 10
    @Option(name: .customLong("job-lease"), help: "Seconds a worker's claim on a job holds unrenewed; a job whose worker died is run again after it.")
    var jobLease = 30
    @Option(name: .customLong("key-cache-seconds"), help: "Seconds a valid API key is remembered; a revoked key is refused at the latest this long after (0: read every time).")
    var keyCacheSeconds = 5
    @Option(name: .customLong("idle-timeout"), help: "Seconds a connection may sit idle (or send half a request) before it is closed.")
    var idleTimeout = 30
    @Option(name: .customLong("request-timeout"), help: "Seconds a request's headers and body may take to arrive.")
    var requestTimeout = 60
    @Option(name: .customLong("max-connections"), help: "Connections served at once (more wait unaccepted).")
    var maxConnections = 512
    @Option(name: .customLong("log-format"), help: "json or text.") var logFormat = "json"
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard workers >= 0 else { throw ValidationError("--workers must be 0 or more") }
        guard let serverRole = ServerRole(rawValue: role) else { throw ValidationError("--role must be all, api or worker") }
        if serverRole == .worker && workers == 0 { throw ValidationError("--role worker needs --workers 1 or more") }
        // Bounded so the conversions below (to bytes, to durations) cannot overflow.
        guard (1...(1 << 30)).contains(modelCacheMB) else { throw ValidationError("--model-cache-mb must be 1 to 2^30") }
        for (name, seconds) in [
            ("--idle-timeout", idleTimeout), ("--request-timeout", requestTimeout), ("--webhook-timeout", webhookTimeout),
        ] where !(1...86400).contains(seconds) {
            throw ValidationError("\(name) must be 1 to 86400 seconds")
        }
        guard (0...86400).contains(shutdownGrace) else { throw ValidationError("--shutdown-grace must be 0 to 86400 seconds") }
        guard (3...86400).contains(jobLease) else { throw ValidationError("--job-lease must be 3 to 86400 seconds") }
        guard (0...3600).contains(keyCacheSeconds) else { throw ValidationError("--key-cache-seconds must be 0 to 3600") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be 1 or more") }
        guard ["json", "text"].contains(logFormat) else { throw ValidationError("--log-format must be json or text") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level is not a log level") }
        if let publicURL, URL(string: publicURL)?.host == nil {
            throw ValidationError("--public-url must be an absolute URL such as https://easel.example.com")
        }
    }

    func run() async throws {
        // Belt and braces for the private data directory: anything this process creates
        // without an explicit mode (SQLite's temporary files, a library's cache) is 0600/0700.
        umask(0o077)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "easel")
        logger.logLevel = level

        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.dataDirectory = data.directory
        configuration.databaseURL = data.databaseURL
        configuration.workers = workers
        configuration.role = ServerRole(rawValue: role) ?? .all
        configuration.publicURL = publicURL
        configuration.webhooks.allowPrivateAddresses = allowPrivateWebhooks
        configuration.webhooks.maxAttempts = max(1, webhookAttempts)
        configuration.webhooks.timeout = .seconds(max(1, webhookTimeout))
        configuration.webhooks.retention = .seconds(min(max(0, webhookRetentionDays), 36500) * 24 * 3600)
        configuration.limits.maxBodyBytes = maxBodyBytes
        configuration.limits.maxPromptLength = maxPromptLength
        configuration.limits.maxSteps = maxSteps
        configuration.limits.maxPixelsPerImage = maxPixelsPerImage
        configuration.limits.maxPixelsPerJob = maxPixelsPerJob
        configuration.limits.maxQueuedPerWorkspace = maxQueuedPerWorkspace
        configuration.modelCacheBytes = modelCacheMB * 1024 * 1024
        configuration.shutdownGrace = .seconds(max(0, shutdownGrace))
        configuration.jobLease = .seconds(jobLease)
        configuration.keyCacheTTL = .seconds(keyCacheSeconds)
        configuration.connections.idleTimeout = .seconds(idleTimeout)
        configuration.connections.requestReadTimeout = .seconds(requestTimeout)
        configuration.connections.maxConnections = maxConnections

        // The real engine; there is no other generator in the shipped binary.
        let generator = DiffusionEngineGenerator(memoryBudgetBytes: configuration.modelCacheBytes)
        let components: ServerComponents
        do {
            components = try await ServerComponents.connect(configuration: configuration, generator: generator, logger: logger)
        } catch let error as StoreConnectionError {
            // One clear line, not a stack of context: the URL (without its password) and why.
            throw CommandFailure(error.description)
        }
        logger.info(
            "starting",
            metadata: [
                "data_dir": "\(configuration.dataDirectory.root.path)", "workers": "\(configuration.runningWorkers)",
                "role": "\(configuration.role.rawValue)",
                "store": "\(configuration.databaseURL == nil ? "sqlite" : "postgres")",
                "allow_private_webhooks": "\(allowPrivateWebhooks)",
            ])
        if !noBundledModel {
            let installer = ModelInstaller(dataDirectory: configuration.dataDirectory, store: components.store)
            let (record, installed) = try await installer.ensurePublicModel(source: try BundledModel.folder(),
                                                                           name: BundledModel.name)
            logger.info(installed ? "bundled model installed" : "bundled model present",
                        metadata: ["model.id": "\(record.id)", "model.name": "\(record.name)"])
        }
        let app = try await buildApplication(components)
        try await app.runService()
    }
}
