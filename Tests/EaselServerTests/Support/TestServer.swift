import EaselDiffusion
import EaselServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
import EaselTestSupport

/// A server on a fresh temporary data directory, with one public model and two
/// workspaces ("alpha", "beta") holding one key each.
struct TestServer {
    static let publicURL = "http://easel.test"

    let folder: URL
    let components: ServerComponents
    let generator: FakeGenerator
    let model: ModelRecord
    let keyA: String
    let keyB: String
    let workspaceA: Workspace
    let workspaceB: Workspace

    var store: any EaselStore { components.store }

    /// - Parameter store: the store to use (default: the data folder's SQLite).
    static func make(
        generator: FakeGenerator = FakeGenerator(), folder: URL? = nil, logger: Logger? = nil,
        store: (any EaselStore)? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        let folder = folder ?? makeTemporaryFolder()
        var configuration = ServerConfiguration()
        configuration.dataDirectory = DataDirectory(path: folder.path)
        configuration.publicURL = publicURL
        configuration.queuePollInterval = .milliseconds(50)
        configuration.webhooks.initialBackoff = .milliseconds(50)
        configuration.webhooks.timeout = .seconds(2)
        configuration.shutdownGrace = .milliseconds(100)
        configure(&configuration)
        var quiet = Logger(label: "easel-test")
        quiet.logLevel = ProcessInfo.processInfo.environment["EASEL_TEST_LOGS"] == nil ? .critical : .info
        let logger = logger ?? quiet
        let components =
            if let store {
                ServerComponents(
                    configuration: configuration, store: store, images: try configuration.dataDirectory.imageStore(),
                    generator: generator, logger: logger)
            } else {
                try ServerComponents.open(configuration: configuration, generator: generator, logger: logger)
            }
        let store = components.store
        let model = try await installModel(named: "tiny", store: store, dataDirectory: configuration.dataDirectory)
        let (workspaceA, keyA) = try await makeKey(workspace: "alpha", store: store)
        let (workspaceB, keyB) = try await makeKey(workspace: "beta", store: store)
        return TestServer(
            folder: folder, components: components, generator: generator, model: model, keyA: keyA, keyB: keyB,
            workspaceA: workspaceA, workspaceB: workspaceB)
    }

    func application() async throws -> some ApplicationProtocol {
        try await buildApplication(components)
    }

    static func makeTemporaryFolder() -> URL {
        do { return try TestScratch.folder("server") } catch { fatalError("no scratch folder: \(error)") }
    }

    /// A real diffusers folder the installer's inspection accepts: the bundled model's
    /// entries, linked (so copying it copies links, not 32 MB).
    static func makeModelFolder() throws -> URL {
        let folder = makeTemporaryFolder().appendingPathComponent("tiny-model")
        let fm = FileManager.default
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        let bundled = try BundledModel.folder()
        for entry in try fm.contentsOfDirectory(atPath: bundled.path) {
            try fm.createSymbolicLink(at: folder.appendingPathComponent(entry),
                                      withDestinationURL: bundled.appendingPathComponent(entry))
        }
        return folder
    }

    static func installModel(
        named name: String, workspaceId: String? = nil, store: any ModelStore, dataDirectory: DataDirectory
    ) async throws -> ModelRecord {
        if let existing = try await store.model(id: ModelInstaller.stableId(name: name, workspaceId: workspaceId)) {
            return existing
        }
        // Recorded directly: the fake generator never reads the files (RegistryTests install for real).
        let id = ModelInstaller.stableId(name: name, workspaceId: workspaceId)
        let record = ModelRecord(
            id: id, name: name, workspaceId: workspaceId, format: .diffusers, path: "models/\(id)", linked: false,
            createdAt: Date(), configPath: nil)
        try await store.addModel(record)
        return record
    }

    static func makeKey(workspace name: String, store: any AccountStore) async throws -> (Workspace, String) {
        let workspace = try #require(try await store.workspace(named: name, createIfMissing: true))
        let key = Credentials.newAPIKey()
        try await store.addKey(
            APIKeyRecord(
                id: Credentials.newKeyId(), workspaceId: workspace.id, keyHash: Credentials.hash(apiKey: key),
                createdAt: Date(), revokedAt: nil))
        return (workspace, key)
    }

    var inferencesPath: String { "/api/v1/images/models/\(model.id)/inferences" }
}

/// Request helpers on the HummingbirdTesting client.
extension TestClientProtocol {
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String? = nil, json: Any? = nil, rawBody: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        } else if let rawBody {
            headers[.contentType] = "application/json"
            body = ByteBuffer(string: rawBody)
        }
        return try await executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    /// Submits a job and returns its JSON (expects 201).
    func submit(_ server: TestServer, key: String? = nil, _ body: [String: Any] = [:]) async throws -> [String: Any] {
        var payload: [String: Any] = ["prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 3]
        payload.merge(body) { $1 }
        let response = try await send(.post, server.inferencesPath, key: key ?? server.keyA, json: payload)
        #expect(response.status == .created, "submit answered \(response.status): \(String(buffer: response.body))")
        return try response.jsonObject()
    }

    /// Polls GET until the job ended (or fails the test after `timeout`).
    func waitForEnd(
        _ server: TestServer, id: String, key: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> [String: Any] {
        try await waitFor(server, id: id, key: key, timeout: timeout) { ["finished", "failed"].contains($0["state"] as? String) }
    }

    func waitFor(
        _ server: TestServer, id: String, key: String? = nil, timeout: Duration = .seconds(10),
        until condition: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let response = try await send(.get, "\(server.inferencesPath)/\(id)", key: key ?? server.keyA)
            let job = try response.jsonObject()
            if condition(job) { return job }
            if ContinuousClock.now > deadline {
                Issue.record("job \(id) did not reach the expected state in time: \(job)")
                return job
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

extension TestResponse {
    func jsonObject() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
    }

    func jsonArray() throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [[String: Any]])
    }

    var bodyData: Data { Data(body.readableBytesView) }
}

/// Polls `condition` until true or `timeout` (then records an issue).
func eventually(
    timeout: Duration = .seconds(10), _ what: String, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now > deadline {
            Issue.record("timed out waiting for \(what)")
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
