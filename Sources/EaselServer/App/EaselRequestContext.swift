import EaselDiffusion
import Foundation
import Hummingbird
import Logging
import NIOCore

/// What the middleware learns about a request, readable by the outer logging middleware
/// after the inner ones ran (the context itself is a value copied inward).
final class RequestFacts: Sendable {
    let workspaceName = Locked<String?>(nil)
}

/// The request context: Hummingbird's core plus the authenticated workspace.
public struct EaselRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` on authenticated routes.
    public var workspace: Workspace?
    /// Set by `HeadAsGet`: the route runs as GET and its body is dropped, so a
    /// route whose body has side effects (an event stream) answers with its headers only.
    public var isHeadRequest = false
    let facts = RequestFacts()
    /// The connection the request came on (to notice a client that goes away).
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The connection's disconnect watcher (nil where there is none, as in router tests).
    func disconnectWatcher() async -> ClientDisconnectWatcher? {
        try? await channel.pipeline.handler(type: ClientDisconnectWatcher.self).get()
    }

    /// The caller's workspace; 401 when the route was reached without a key.
    func requireWorkspace() throws -> Workspace {
        guard let workspace else { throw APIError.unauthorized() }
        return workspace
    }
}

/// `Authorization: Bearer <key>` -> the key's workspace. A new key created by `easel keys`
/// works at once; a revoked one is refused within the key cache's time to live (seconds).
/// Anything else is 401.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = EaselRequestContext
    let store: any AccountStore
    let keys: APIKeyCache

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let workspace = try await Self.workspace(for: request, store: store, keys: keys) else {
            throw APIError.unauthorized(keyGiven: request.headers[.authorization] != nil)
        }
        var context = context
        context.workspace = workspace
        context.facts.workspaceName.withLock { $0 = workspace.name }
        return try await next(request, context)
    }

    /// The workspace of the request's bearer key; nil when there is no valid key.
    static func workspace(for request: Request, store: any AccountStore, keys: APIKeyCache) async throws -> Workspace? {
        guard let token = bearerToken(request) else { return nil }
        return try await keys.workspace(keyHash: Credentials.hash(apiKey: token), store: store)
    }

    /// `Bearer <token>`: the scheme in any case, spaces and tabs around the token ignored.
    /// Plain byte checks rather than Foundation's case mapping and character sets, which
    /// were a visible part of every request.
    static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].utf8.count == 6,
            zip(parts[0].utf8, "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 })
        else { return nil }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let bytes = parts[1].utf8
        guard let first = bytes.firstIndex(where: { !isBlank($0) }),
            let last = bytes.lastIndex(where: { !isBlank($0) })
        else { return nil }
        return String(parts[1][first...last])
    }
}

/// One structured log line per request: method, path, status, duration, workspace.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = EaselRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        var metadata: Logger.Metadata = [
            "http.method": .string(context.isHeadRequest ? "HEAD" : request.method.rawValue),
            "http.path": .string(request.uri.path),
            "http.status": .string(String(response.status.code)),
            "duration_ms": .string(Self.milliseconds(elapsed)),
        ]
        if let name = context.facts.workspaceName.current { metadata["workspace"] = "\(name)" }
        context.logger.info("request", metadata: metadata)
        return response
    }

    /// Milliseconds with two decimals (`12.34`), as `String(format: "%.2f")` wrote them
    /// but without Foundation's formatter, which cost more than the rest of the line.
    static func milliseconds(_ duration: Duration) -> String {
        let parts = duration.components
        let hundredths = max(0, parts.seconds * 100_000 + parts.attoseconds / 10_000_000_000_000)
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

/// Bounds how long the request's store operations may wait for the database
/// (`StoreWaitLimit`): with the database gone, the request fails with 503 in about that
/// time instead of waiting for it to return.
struct StoreWaitLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: Duration?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let limit else { return try await next(request, context) }
        return try await StoreWaitLimit.$current.withValue(limit) { try await next(request, context) }
    }
}
