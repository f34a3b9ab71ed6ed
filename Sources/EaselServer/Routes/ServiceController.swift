import Foundation
import Hummingbird

/// `GET /health` and `GET /openapi.json`: no key needed.
struct ServiceController: Sendable {
    let components: ServerComponents

    var endpoints: RouteCollection<EaselRequestContext> {
        RouteCollection(context: EaselRequestContext.self)
            .get("health", use: health)
            .get("openapi.json", use: openAPI)
    }

    struct Health: Encodable {
        var status: String
        var queued: Int
    }

    /// 200 once the server accepts requests and its store answers.
    @Sendable func health(request: Request, context: EaselRequestContext) async throws -> Response {
        let queued = try await components.store.countQueued()
        return InferencesController.json(try WireJSON.encode(Health(status: "ok", queued: queued)), status: .ok)
    }

    @Sendable func openAPI(request: Request, context: EaselRequestContext) async throws -> Response {
        let document = OpenAPIDocument.json(
            serverURL: components.publicURL.value, limits: components.configuration.limits)
        return InferencesController.json(Data(document.utf8), status: .ok)
    }
}
