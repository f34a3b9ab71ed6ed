import Foundation
import HTTPTypes
import Hummingbird

/// `GET /` and `/playground/*`: the playground page and its assets, compiled into the
/// binary (`PlaygroundPage`, `PlaygroundScript`). No key is needed to load them; the page
/// does everything through the public API with the key its user types. Every answer
/// carries a strict Content-Security-Policy: scripts, styles and connections to this
/// origin only, no inline code, no other origin, no framing.
struct PlaygroundController: Sendable {
    struct Asset: Sendable {
        var contentType: String
        var body: String
    }

    static let assets: [String: Asset] = [
        "app.js": Asset(contentType: "text/javascript; charset=utf-8", body: PlaygroundScript.javascript),
        "style.css": Asset(contentType: "text/css; charset=utf-8", body: PlaygroundPage.css),
        "icon.svg": Asset(contentType: "image/svg+xml", body: PlaygroundPage.icon),
    ]

    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        + "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

    var endpoints: RouteCollection<EaselRequestContext> {
        RouteCollection(context: EaselRequestContext.self)
            .get(use: page)
            .get("playground/:asset", use: asset)
    }

    @Sendable func page(request: Request, context: EaselRequestContext) async throws -> Response {
        Self.respond(Asset(contentType: "text/html; charset=utf-8", body: PlaygroundPage.html))
    }

    @Sendable func asset(request: Request, context: EaselRequestContext) async throws -> Response {
        let name = try context.parameters.require("asset")
        guard let asset = Self.assets[name] else { throw APIError.notFound("Cannot GET \(request.uri.path)") }
        return Self.respond(asset)
    }

    static func respond(_ asset: Asset) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: asset.contentType,
                .contentSecurityPolicy: contentSecurityPolicy,
                .xContentTypeOptions: "nosniff",
                HTTPField.Name("Referrer-Policy")!: "no-referrer",
                HTTPField.Name("X-Frame-Options")!: "DENY",
                .cacheControl: "no-cache",
            ],
            body: .init(byteBuffer: ByteBuffer(string: asset.body)))
    }
}
