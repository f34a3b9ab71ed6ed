import EaselServer
import Foundation
import Logging
import PostgresNIO
import Testing

/// The two store implementations the shared store tests run against. PostgreSQL takes part
/// when `EASEL_TEST_POSTGRES_URL` names a server (`.ci/run` starts one); each test gets a
/// database of its own there, as it gets a folder of its own for SQLite.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static let postgresURL: String? = {
        let url = ProcessInfo.processInfo.environment["EASEL_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if url == nil {
            FileHandle.standardError.write(
                Data("notice: PostgreSQL store tests skipped (set EASEL_TEST_POSTGRES_URL to a server to run them)\n".utf8))
        }
        return url
    }()

    /// The kinds to test here: SQLite always, PostgreSQL when a server is given.
    static var available: [StoreKind] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A new, empty store (and the way to open it again, for tests of what survives a restart).
    func makeStore() async throws -> TestStore {
        switch self {
        case .sqlite:
            let path = TestServer.makeTemporaryFolder().appendingPathComponent("easel.sqlite").path
            return TestStore(store: try SQLiteStore(path: path)) { try SQLiteStore(path: path) }
        case .postgres:
            let url = try await TestDatabases.fresh()
            return TestStore(store: try await PostgresStore.connect(url: url, logger: TestDatabases.quiet)) {
                try await PostgresStore.connect(url: url, logger: TestDatabases.quiet)
            }
        }
    }
}

/// A store under test and how to open the same data again.
struct TestStore: Sendable {
    let store: any EaselStore
    let reopen: @Sendable () async throws -> any EaselStore
}

/// Makes a database per test on the PostgreSQL server named by `EASEL_TEST_POSTGRES_URL`.
enum TestDatabases {
    static var quiet: Logger {
        var logger = Logger(label: "easel-test.postgres")
        logger.logLevel = .critical
        return logger
    }

    /// How many connections other than this question's are open to the URL's database.
    static func connectionCount(_ url: String) async throws -> Int {
        guard let parts = URLComponents(string: url) else { throw StoreError.corrupt("not a URL: \(url)") }
        let database = String(parts.path.dropFirst())
        let client = try client(parts)
        return try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                await client.run()
                return 0
            }
            defer { group.cancelAll() }
            let rows = try await client.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = \(database) AND pid <> pg_backend_pid()")
            for try await n in rows.decode(Int.self) { return n }
            return 0
        }
    }

    private static func client(_ parts: URLComponents) throws -> PostgresClient {
        var configuration = PostgresClient.Configuration(
            host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, username: parts.user ?? "postgres",
            password: parts.password, database: "postgres", tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        return PostgresClient(configuration: configuration, backgroundLogger: quiet)
    }

    /// The URL of a new, empty database on the test server.
    static func fresh() async throws -> String {
        guard let base = StoreKind.postgresURL, var parts = URLComponents(string: base) else {
            throw StoreError.corrupt("EASEL_TEST_POSTGRES_URL is not set")
        }
        let name = "easel_test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        var configuration = PostgresClient.Configuration(
            host: parts.host ?? "127.0.0.1", port: parts.port ?? 5432, username: parts.user ?? "postgres",
            password: parts.password, database: String(parts.path.dropFirst()), tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        }
        parts.path = "/\(name)"
        return parts.string ?? base
    }
}
