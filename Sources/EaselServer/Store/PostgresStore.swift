import EaselDiffusion
import Foundation
import Logging
import NIOSSL
import NIOCore
import PostgresNIO

/// The shared store: one PostgreSQL database that any number of API and worker processes,
/// on any machines, use at once. Same protocols, same rules as `SQLiteStore`; claims take
/// `FOR UPDATE SKIP LOCKED` so concurrent workers never wait on each other's rows.
///
/// The connection pool runs in a task of its own (not under the service group), so that on
/// SIGTERM the database stays reachable while the workers re-queue the jobs in hand.
public final class PostgresStore: EaselStore {
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>
    /// Watches the wait limit of every call (`bounded`).
    let deadlines = StoreDeadlines()

    /// Any number of worker processes claim from it.
    public var isSharedByProcesses: Bool { true }

    /// Connects, checks the server answers within `connectTimeout`, and brings the schema up
    /// to date (under an advisory lock, so processes starting together migrate once).
    public static func connect(
        url: String, connectTimeout: Duration = .seconds(5), logger: Logger = Logger(label: "easel.postgres")
    ) async throws -> PostgresStore {
        let configuration = try PostgresURL.parse(url, connectTimeout: connectTimeout)
        // One plain connection first: the pool retries a refused or rejected connection
        // quietly, where this one fails at once with the server's reason.
        do {
            try await withTimeout(connectTimeout) {
                let probe = try await PostgresConnection.connect(
                    configuration: try configuration.probe(), id: 0, logger: logger)
                try await probe.close()
            }
        } catch {
            throw StoreConnectionError(url: configuration.redacted, underlying: error)
        }
        // The pool's own retries (at info level, many a second) stay out of the server's log.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .warning)
        let store = PostgresStore(configuration: configuration.client, logger: logger, poolLogger: poolLogger)
        do {
            try await withTimeout(connectTimeout) {
                _ = try await store.client.query("SELECT 1")
            }
            try await store.migrate()
        } catch {
            store.close()
            throw StoreConnectionError(url: configuration.redacted, underlying: error)
        }
        return store
    }

    private init(configuration: PostgresClient.Configuration, logger: Logger, poolLogger: Logger) {
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: poolLogger)
        self.client = client
        // Detached: not cancelled by the service group's graceful shutdown (see above).
        runner = Task.detached { await client.run() }
    }

    deinit {
        runner.cancel()
        deadlines.stop()
    }

    /// Closes the pool; queries after this fail.
    public func close() {
        runner.cancel()
        deadlines.stop()
    }

    // MARK: - Running queries

    /// Runs `body` on one pooled connection, outside any transaction.
    @discardableResult
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let client = self.client
        return try await bounded { try await client.withConnection { connection in try await body(connection) } }
    }

    /// Runs one statement outside any transaction and returns its rows. Unlike `read`, the
    /// connection goes back to the pool on its event loop the moment the answer is complete,
    /// not when this task is next scheduled to collect it: with the CPU busy that wait held
    /// connections idle for longer than the query ran.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        let logger = self.logger
        let client = self.client
        return try await bounded {
            try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        }
    }

    /// `rows(_:)` for a prepared statement (prepared once per connection).
    func rows<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [Statement.Row]
    where Statement.Row: Sendable {
        let logger = self.logger
        let client = self.client
        return try await bounded {
            var rows: [Statement.Row] = []
            for try await row in try await client.execute(statement, logger: logger) { rows.append(row) }
            return rows
        }
    }

    /// Runs `body` in one transaction (READ COMMITTED); rolled back if it throws, and the
    /// error rethrown as it was.
    @discardableResult
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        let client = self.client
        return try await bounded {
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let value = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return value
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// Runs `operation` within the task's `StoreWaitLimit` (if any), and tells a lost or
    /// unreachable database as `StoreUnavailable`. Without a limit it waits for the database
    /// to come back, but never past the calling task's cancellation: a cancelled caller (a
    /// service stopping) gets `CancellationError` at once, whatever the pool is doing.
    func bounded<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            return try await withTimeout(StoreWaitLimit.current, watchedBy: deadlines, operation)
        } catch let problem as TimeoutProblem {
            throw StoreUnavailable("no answer within \(problem.after)")
        } catch let error as PSQLError where error.meansConnectionLost {
            throw StoreUnavailable(error.connectionLossReason)
        }
    }
}

extension PSQLError {
    /// The connection went (server shut down or restarting, network cut, pool closed), as
    /// opposed to a query the server refused.
    var meansConnectionLost: Bool {
        switch code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
            return true
        case .server:
            // 08xxx: connection exceptions; 57P01-57P03: shutting down, crashed, starting up.
            let state = serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
        default:
            return false
        }
    }

    var connectionLossReason: String {
        if let message = serverInfo?[.message] { return message }
        return code == .poolClosed ? "the store is closed" : "the connection to the database was lost"
    }
}

extension PostgresConnection {
    /// Every row of the query's answer.
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    func first(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRandomAccessRow? {
        try await rows(query, logger: logger).first
    }

    /// Runs a statement and returns how many rows it changed (from the RETURNING rows it must have).
    @discardableResult
    func run(_ query: PostgresQuery, logger: Logger) async throws -> Int {
        try await rows(query, logger: logger).count
    }
}

extension PostgresRandomAccessRow {
    /// The named column, decoded (an optional type for a nullable column).
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self, context: .default)
    }
}

// MARK: - Connecting

/// A `postgres://` (or `postgresql://`) URL taken apart for the pool.
struct PostgresURL {
    var client: PostgresClient.Configuration
    /// The URL without its password, for messages and logs.
    var redacted: String
    var endpoint: Endpoint
    var sslMode: String

    enum Endpoint {
        case tcp(host: String, port: Int)
        case socket(path: String)
    }

    /// The same settings for one plain connection (the start-up check).
    func probe() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch endpoint {
        case .socket(let path):
            configuration = PostgresConnection.Configuration(
                unixSocketPath: path, username: client.username, password: client.password, database: client.database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS
            switch sslMode {
            case "disable": tls = .disable
            case "prefer", "allow": tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            default: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = PostgresConnection.Configuration(
                host: host, port: port, username: client.username, password: client.password,
                database: client.database, tls: tls)
        }
        configuration.options.connectTimeout = TimeAmount(client.options.connectTimeout)
        return configuration
    }

    /// Connections a process opens at most when the URL does not say (`pool_max_conns`):
    /// twice its cores, plus the one that listens for notifications, and at least four.
    /// More statements in flight than the CPUs can run buy little, and on a shared machine
    /// they cost the tail: with PostgreSQL, wrk and this process on two cores, 20
    /// connections answered GET at p99 60-600 ms (PostgreSQL itself logged the one-row
    /// statement taking over 100 ms) where 4 to 6 answered within 20-35 ms, at about the
    /// same rate. The price: submissions to one workspace wait for each other on its lock
    /// while holding a connection; with the cores oversubscribed by other work they ran up
    /// to a quarter slower (at the same rate otherwise).
    static var defaultPoolSize: Int { max(4, 2 * ProcessInfo.processInfo.activeProcessorCount + 1) }

    /// `pool_max_conns=N` (the name pgx uses), 2 to 1,000: one connection stays with the
    /// notification listener, so one alone would leave none for queries.
    static func poolSize(_ text: String?) throws -> Int {
        guard let text, !text.isEmpty else { return defaultPoolSize }
        guard let size = Int(text), (2...1_000).contains(size) else {
            throw StoreConnectionError(
                url: "(not shown)", underlying: URLProblem("pool_max_conns must be a whole number from 2 to 1000"))
        }
        return size
    }

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`, or a
    /// unix socket folder: `postgres://user@/database?host=/var/run/postgresql`; either may
    /// add `pool_max_conns=N`.
    static func parse(_ text: String, connectTimeout: Duration) throws -> PostgresURL {
        guard let parts = URLComponents(string: text), let scheme = parts.scheme,
            ["postgres", "postgresql"].contains(scheme.lowercased())
        else {
            throw StoreConnectionError(
                url: "(not shown)",
                underlying: URLProblem("the database URL must look like postgres://user:password@host:5432/database"))
        }
        let user = parts.user.flatMap { $0.removingPercentEncoding } ?? ""
        guard !user.isEmpty else {
            throw StoreConnectionError(url: "(not shown)", underlying: URLProblem("the database URL names no user"))
        }
        let password = parts.password.flatMap { $0.removingPercentEncoding }
        var database = parts.path
        if database.hasPrefix("/") { database.removeFirst() }
        database = database.removingPercentEncoding ?? database
        let query = Dictionary(
            (parts.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let socketFolder = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        var redacted = "\(scheme)://\(user)@"
        var configuration: PostgresClient.Configuration
        let endpoint: Endpoint
        let sslMode = query["sslmode"] ?? "prefer"
        if let socketFolder {
            let port = parts.port ?? 5432
            let path = "\(socketFolder)/.s.PGSQL.\(port)"
            configuration = PostgresClient.Configuration(
                unixSocketPath: path, username: user, password: password, database: database.isEmpty ? nil : database)
            redacted += "/\(database)?host=\(socketFolder)"
            endpoint = .socket(path: path)
        } else {
            guard let host = parts.host, !host.isEmpty else {
                throw StoreConnectionError(url: "(not shown)", underlying: URLProblem("the database URL names no host"))
            }
            let tls: PostgresClient.Configuration.TLS
            switch sslMode {
            case "disable": tls = .disable
            case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
            case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
            case let other:
                throw StoreConnectionError(url: "(not shown)", underlying: URLProblem("sslmode=\(other) is not known"))
            }
            configuration = PostgresClient.Configuration(
                host: host, port: parts.port ?? 5432, username: user, password: password,
                database: database.isEmpty ? nil : database, tls: tls)
            redacted += "\(host):\(parts.port ?? 5432)/\(database)"
            endpoint = .tcp(host: host, port: parts.port ?? 5432)
        }
        configuration.options.connectTimeout = connectTimeout
        configuration.options.maximumConnections = try poolSize(query["pool_max_conns"])
        return PostgresURL(client: configuration, redacted: redacted, endpoint: endpoint, sslMode: sslMode)
    }
}

/// A database URL that is wrong, or a server that does not answer: said in one line.
public struct StoreConnectionError: Error, CustomStringConvertible {
    public let url: String
    public let underlying: any Error

    public var description: String {
        let detail: String
        if let problem = underlying as? URLProblem {
            detail = problem.message
        } else if let timeout = underlying as? TimeoutProblem {
            detail = "no answer within \(timeout.after) (is the server running and the address right?)"
        } else if let error = underlying as? PSQLError {
            // PSQLError's plain description hides everything: the server's message, or the
            // network's, says what was wrong.
            if let message = error.serverInfo?[.message] {
                detail = message
            } else if case let .connectTimeout(amount)? = error.underlying as? ChannelError {
                // The connection's own timeout may fire before ours: the same words either way.
                detail = "no answer within \(Duration.nanoseconds(amount.nanoseconds)) (is the server running and the address right?)"
            } else if let cause = error.underlying {
                let text = "\(cause)"
                detail = text.contains("Connection refused") ? "connection refused (is PostgreSQL listening there?)" : text
            } else {
                detail = "\(error.code)"
            }
        } else {
            detail = String(reflecting: underlying)
        }
        return "could not open the database \(url): \(detail)"
    }
}

struct URLProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

struct TimeoutProblem: Error {
    let after: Duration
}

/// Runs `body`, failing with `TimeoutProblem` if it takes longer than `limit` (nil: no
/// limit; with `deadlines`, up to its interval longer), and with `CancellationError` as
/// soon as the calling task is cancelled. The body
/// runs in a task of its own and is cancelled, not awaited, when either comes first, so a
/// body that ignores cancellation (a connection lease or a query the pool never answers)
/// cannot turn a timeout or a shutdown into a hang.
func withTimeout<T: Sendable>(
    _ limit: Duration?, watchedBy deadlines: StoreDeadlines? = nil, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let outcome = Locked(Outcome<T>.waiting(nil))
    let settle: @Sendable (Result<T, any Error>) -> Void = { result in
        outcome.withLock { $0.settle(result) }
    }
    var work: Task<Void, Never>?
    var timer: Scheduled<Void>?
    var watched: UInt64?
    defer {
        work?.cancel()
        timer?.cancel()
        if let watched { deadlines?.remove(watched) }
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            // Cancelled before it began: answered already, nothing to start.
            guard outcome.withLock({ $0.wait(continuation) }) else { return }
            let run: @Sendable () async -> Void = {
                do { settle(.success(try await body())) } catch { settle(.failure(error)) }
            }
            // A store call starts on this thread, up to the body's first wait (sending the
            // query): a plain task would first be queued for another thread to pick up. Not
            // while connecting: the pool's own task may not have started yet.
            if deadlines != nil, #available(macOS 26.0, *) {
                work = Task.immediate(operation: run)
            } else {
                work = Task(operation: run)
            }
            if let limit, let deadlines {
                watched = deadlines.add(limit) { settle(.failure(TimeoutProblem(after: limit))) }
            } else if let limit {
                // A timer on an event loop, not a task that sleeps: every store call of every
                // request sets one and cancels it, and a sleeping task (with the dispatch timer
                // under it) cost several times as much.
                timer = PostgresConnection.defaultEventLoopGroup.any().scheduleTask(
                    in: TimeAmount(min(limit, .seconds(366 * 86_400)))
                ) { settle(.failure(TimeoutProblem(after: limit))) }
            }
        }
    } onCancel: {
        settle(.failure(CancellationError()))
    }
}

/// `withTimeout`'s one answer: the first of the body's result, the timer and the caller's
/// cancellation resumes the caller; the others find it settled.
private enum Outcome<T: Sendable> {
    case waiting(CheckedContinuation<T, any Error>?)
    /// Settled before the caller waited (cancelled before it started).
    case early(Result<T, any Error>)
    case settled

    /// False when it was settled already (the continuation is resumed at once).
    mutating func wait(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        if case .early(let result) = self {
            self = .settled
            continuation.resume(with: result)
            return false
        }
        self = .waiting(continuation)
        return true
    }

    mutating func settle(_ result: Result<T, any Error>) {
        switch self {
        case .waiting(let continuation?):
            self = .settled
            continuation.resume(with: result)
        case .waiting(nil):
            self = .early(result)
        case .early, .settled:
            break
        }
    }
}
