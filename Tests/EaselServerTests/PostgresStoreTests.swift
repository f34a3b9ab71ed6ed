import EaselServer
import Foundation
import PostgresNIO
import Testing

/// What only the PostgreSQL store has: opening by URL (a wrong or silent server is a clear
/// error, not a hang) and migrations that several processes may start at once.
///
/// How fast the errors come is checked with the real binary (scripts/scale_out_test.py):
/// here, other suites' CPU-heavy tests can hold every thread of the concurrency pool for
/// many seconds, so wall-clock bounds would measure them. The messages show which path
/// was taken: "refused" at once, "no answer within" only after the timeout.
@Suite struct PostgresStoreTests {
    @Test func aURLThatIsNotPostgresIsRefusedAtOnce() async throws {
        for url in ["mysql://u@127.0.0.1/db", "postgres://127.0.0.1/db", "not a url", "postgres://u@127.0.0.1/db?sslmode=odd"] {
            let error = await #expect(throws: StoreConnectionError.self) {
                _ = try await PostgresStore.connect(url: url, connectTimeout: .seconds(2), logger: TestDatabases.quiet)
            }
            #expect(error?.description.contains("could not open the database") == true)
        }
    }

    @Test func aRefusedConnectionIsAClearError() async throws {
        // A loopback port nobody listens on: refused at once, not waited out. (The limit is
        // generous because the store's timer runs on its own event loop: with the whole suite
        // computing on both cores, the task that hears the refusal can wait seconds for a
        // thread, and the timer would win.)
        let port = try SilentListener.freePort()
        let error = await #expect(throws: StoreConnectionError.self) {
            _ = try await PostgresStore.connect(
                url: "postgres://easel:secret@127.0.0.1:\(port)/easel", connectTimeout: .seconds(60),
                logger: TestDatabases.quiet)
        }
        let message = error?.description ?? ""
        #expect(message.contains("127.0.0.1:\(port)"))
        #expect(message.lowercased().contains("refused"), "\(message)")
        #expect(!message.contains("secret"), "the password is never shown")
    }

    @Test(.enabled(if: StoreKind.postgresURL != nil)) func aWrongPasswordOrDatabaseSaysSo() async throws {
        let base = try #require(StoreKind.postgresURL)
        var parts = try #require(URLComponents(string: base))
        var wrongPassword = parts
        wrongPassword.password = "not-the-password"
        let refused = await #expect(throws: StoreConnectionError.self) {
            _ = try await PostgresStore.connect(url: wrongPassword.string ?? "", connectTimeout: .seconds(60), logger: TestDatabases.quiet)
        }
        #expect(refused?.description.contains("password authentication failed") == true, "\(refused?.description ?? "")")
        #expect(refused?.description.contains("not-the-password") == false)
        parts.path = "/no_such_database"
        let missing = await #expect(throws: StoreConnectionError.self) {
            _ = try await PostgresStore.connect(url: parts.string ?? "", connectTimeout: .seconds(60), logger: TestDatabases.quiet)
        }
        #expect(missing?.description.contains("does not exist") == true, "\(missing?.description ?? "")")
    }

    @Test func aServerThatNeverAnswersIsAClearErrorAfterTheTimeout() async throws {
        // Accepts the TCP connection (the kernel's backlog) but never speaks.
        let listener = try SilentListener()
        defer { listener.close() }
        let error = await #expect(throws: StoreConnectionError.self) {
            _ = try await PostgresStore.connect(
                url: "postgres://easel@127.0.0.1:\(listener.port)/easel", connectTimeout: .seconds(1),
                logger: TestDatabases.quiet)
        }
        #expect(error?.description.contains("no answer within 1.0 seconds") == true, "\(error?.description ?? "")")
    }

    @Test func aPoolSizeOutOfRangeIsRefusedAtOnce() async throws {
        // One connection stays with the notification listener: a pool of one would leave none.
        for size in ["1", "0", "-3", "1001", "many", "2.5"] {
            let error = await #expect(throws: StoreConnectionError.self) {
                _ = try await PostgresStore.connect(
                    url: "postgres://u@127.0.0.1:1/db?pool_max_conns=\(size)", connectTimeout: .seconds(2),
                    logger: TestDatabases.quiet)
            }
            #expect(
                error?.description.contains("pool_max_conns must be a whole number from 2 to 1000") == true,
                "\(size): \(error?.description ?? "")")
        }
    }

    @Test(.enabled(if: StoreKind.postgresURL != nil)) func aStoreOpensNoMoreConnectionsThanItsPoolAllows() async throws {
        let url = try await TestDatabases.fresh()
        let store = try await PostgresStore.connect(url: url + "?pool_max_conns=3", logger: TestDatabases.quiet)
        defer { store.close() }
        let workspace = try #require(try await store.workspace(named: "w", createIfMissing: true))
        // Far more reads at once than connections: they wait their turn, and all are answered.
        let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<40 {
                group.addTask { try await store.jobView(id: "no-such-job", workspaceId: workspace.id) == nil }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(answered == 40)
        // Idle connections stay open for a minute: those are the ones it opened.
        let open = try await TestDatabases.connectionCount(url)
        #expect((1...3).contains(open), "\(open) connections open")
    }

    @Test(.enabled(if: StoreKind.postgresURL != nil)) func processesStartingTogetherMigrateOnce() async throws {
        let url = try await TestDatabases.fresh()
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<6 {
                group.addTask { try await PostgresStore.connect(url: url, logger: TestDatabases.quiet) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 6)
        // Every one of them works on the same schema.
        let workspace = try #require(try await stores[0].workspace(named: "w", createIfMissing: true))
        for store in stores {
            #expect(try await store.workspace(named: "w", createIfMissing: true)?.id == workspace.id)
        }
        for store in stores { store.close() }
    }
}

/// A loopback TCP socket that listens but never accepts or answers.
final class SilentListener: @unchecked Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        (descriptor, port) = try Self.bind(listen: true)
    }

    func close() { _ = Glibc.close(descriptor) }

    /// A port that was free a moment ago (bound, then closed).
    static func freePort() throws -> Int {
        let (descriptor, port) = try bind(listen: false)
        _ = Glibc.close(descriptor)
        return port
    }

    static func bind(listen: Bool) throws -> (Int32, Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw StoreError.corrupt("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, length) }
        }
        guard bound == 0, !listen || Glibc.listen(descriptor, 16) == 0 else {
            _ = Glibc.close(descriptor)
            throw StoreError.corrupt("could not listen on loopback")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}
