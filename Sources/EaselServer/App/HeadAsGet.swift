import HTTPTypes
import Hummingbird

/// Answers `HEAD` like `GET` without a body, on every GET route (RFC 9110 §9.3.2): load
/// balancers probe `/health` with HEAD, and clients check an image's type and size before
/// fetching it. It wraps the whole router rather than being a router middleware, because
/// Hummingbird matches a route by method before any middleware runs. The request runs as
/// GET (so routing, auth and errors are exactly GET's), with `isHeadRequest` set in the
/// context, and the body is dropped unsent; `Content-Length` stays what GET would send.
struct HeadAsGet<Base: HTTPResponderBuilder>: HTTPResponderBuilder
where Base.Responder.Context == EaselRequestContext {
    let base: Base

    func buildResponder() -> Responder { Responder(base: base.buildResponder()) }

    struct Responder: HTTPResponder {
        typealias Context = EaselRequestContext
        let base: Base.Responder

        @Sendable func respond(to request: Request, context: Context) async throws -> Response {
            guard request.method == .head else { return try await base.respond(to: request, context: context) }
            var head = request.head
            head.method = .get
            var context = context
            context.isHeadRequest = true
            let response = try await base.respond(to: Request(head: head, body: request.body), context: context)
            // Headers kept as they are, Content-Length included (or absent, for a stream: NIO's
            // encoder then frames the bodyless answer itself); a body stream is never run.
            var headOnly = Response(status: response.status, headers: response.headers, body: ResponseBody())
            if !response.headers.contains(.contentLength) { headOnly.headers[.contentLength] = nil }
            return headOnly
        }
    }
}
