import Foundation

/// What one machine accepts. Everything over a limit is refused with a clear 4xx,
/// never with a crash.
public struct ServerLimits: Sendable, Equatable {
    /// Largest request body read, in bytes (413 beyond).
    public var maxBodyBytes = 64 * 1024
    /// Longest prompt or negative prompt, in Unicode code points (not grapheme clusters:
    /// combining marks count, so a short-looking string cannot carry unbounded text).
    public var maxPromptLength = 2000
    public var maxSteps = 150
    /// width x height of one image.
    public var maxPixelsPerImage = 1024 * 1024
    /// width x height x numberOfImages of one job.
    public var maxPixelsPerJob = 4 * 1024 * 1024
    /// Jobs a workspace may have waiting (`queued`); beyond it 429 with Retry-After.
    public var maxQueuedPerWorkspace = 100
    /// Largest `pageSize` of a list.
    public var maxPageSize = 100
    /// Largest init image file (PNG or JPEG, before base64) of an image-to-image request;
    /// its pixels are bounded by `maxPixelsPerImage`.
    public var maxInitImageBytes = 8 * 1024 * 1024

    /// Largest create-inference body: the ordinary fields plus a base64 init image.
    public var maxInferenceBodyBytes: Int { maxBodyBytes + (maxInitImageBytes + 2) / 3 * 4 + 64 }

    public init() {}
}

/// How long a connection may sit idle or take to send a request, and how many may be open
/// at once: a client that sends half a request, or trickles one, must not hold a
/// connection (a file descriptor, a task) for ever.
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection with no request in progress (or one whose request line and headers have
    /// not all arrived) is closed after this long without reading anything.
    public var idleTimeout: Duration = .seconds(30)
    /// A request's head and body must have arrived within this long of the head's first part
    /// (a body trickled a byte at a time is cut off). Responses are not bounded by it.
    public var requestReadTimeout: Duration = .seconds(60)
    /// Connections served at once; more wait in the listen backlog, unaccepted, until one
    /// closes (a long event stream counts as one).
    public var maxConnections = 512

    public init() {}
}

/// Webhook delivery policy.
public struct WebhookPolicy: Sendable, Equatable {
    /// Attempts in all (the first one included).
    public var maxAttempts = 5
    /// Wait before the second attempt; doubled after each further failure.
    public var initialBackoff: Duration = .seconds(2)
    public var maxBackoff: Duration = .seconds(300)
    /// Time allowed for one attempt (connect, send, answer).
    public var timeout: Duration = .seconds(10)
    /// Deliver to loopback, private and link-local addresses (off: refused).
    public var allowPrivateAddresses = false
    /// Delivered, failed and refused deliveries (payload and attempts) are removed this
    /// long after they ended; pending ones are kept until they end.
    public var retention: Duration = .seconds(7 * 24 * 3600)

    public init() {}
}

/// What one `easel serve` process does. Any number of each may share one PostgreSQL store
/// (and one data directory, on a shared mount across machines).
public enum ServerRole: String, Sendable, CaseIterable {
    /// Takes requests and runs jobs (the embedded default).
    case all
    /// Takes requests and serves images; runs no jobs (workers elsewhere do).
    case api
    /// Claims and runs jobs and delivers webhooks; answers only `GET /health` (and the
    /// OpenAPI document) on its port, no API.
    case worker
}

/// Everything `easel serve` is told, as one value passed in (no global state).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = DataDirectory(path: "easel-data")
    /// A `postgres://` URL: the shared store for several processes. Nil: the SQLite
    /// database in the data directory.
    public var databaseURL: String?
    public var workers = 1
    public var role = ServerRole.all
    /// Jobs this process runs at once: none in an API process.
    public var runningWorkers: Int { role == .api ? 0 : workers }
    /// Base of the image URIs in responses and webhooks, e.g. `https://easel.example.com`.
    /// Nil: `http://<host>:<port>` of the listening socket.
    public var publicURL: String?
    public var limits = ServerLimits()
    public var webhooks = WebhookPolicy()
    public var connections = ConnectionLimits()
    /// How much memory warm models may hold together.
    public var modelCacheBytes = 8 * 1024 * 1024 * 1024
    /// How often workers look for jobs queued by another process (they are woken at once
    /// for jobs queued by this one).
    public var queuePollInterval: Duration = .seconds(1)
    /// On SIGTERM, how long the job in hand may take to finish before it is re-queued.
    public var shutdownGrace: Duration = .seconds(10)
    /// A job claimed this many times without ending (crashes) is failed instead of re-queued.
    public var maxAttemptsPerJob = 3
    /// How long a worker's claim on a job holds without renewal (renewed every third of it
    /// while the job runs): a job whose worker died goes back to the queue this long after.
    public var jobLease: Duration = .seconds(30)
    /// How long a valid API key's workspace is remembered (no database read per request):
    /// a key revoked by `easel keys revoke` is refused at the latest this long after. Zero:
    /// every request reads the key.
    public var keyCacheTTL: Duration = .seconds(5)
    /// How long a request's store operation may wait for the database before the request is
    /// answered 503 (the database is down or unreachable). Nil: wait for it. Workers wait up
    /// to a job lease (`jobLease`), and a stopping process no longer than its shutdown grace
    /// and a few seconds.
    public var storeWaitLimit: Duration? = .seconds(2)
    /// Image files no job names are removed by worker processes once they are this old
    /// (younger ones may belong to a job whose finish is not committed yet)...
    public var orphanImageAge: Duration = .seconds(15 * 60)
    /// ...in a pass at start and then every this long.
    public var orphanSweepInterval: Duration = .seconds(10 * 60)
    /// Images may be fetched without a key (their unguessable URI is the capability, as
    /// with Leap's CDN). A request that does carry a key must own the image.
    public var imagesRequireKey = false

    public init() {}
}
