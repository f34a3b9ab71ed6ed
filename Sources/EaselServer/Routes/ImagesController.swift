import Foundation
import Hummingbird

/// `GET /images/{imageId}.png`: the generated files. The URI's random id is the
/// capability (as with Leap's CDN links); a request that carries a key must also own the
/// image, and with `imagesRequireKey` a key is required.
struct ImagesController: Sendable {
    let components: ServerComponents

    var endpoints: RouteCollection<EaselRequestContext> {
        RouteCollection(context: EaselRequestContext.self)
            .get(":fileName", use: image)
    }

    @Sendable func image(request: Request, context: EaselRequestContext) async throws -> Response {
        let fileName = try context.parameters.require("fileName")
        let notFound = APIError.notFound("Image not found")
        guard fileName.hasSuffix(".png"), FileImageStore.isSafe(fileName) else { throw notFound }
        let imageId = String(fileName.dropLast(4))
        let hasKey = request.headers[.authorization] != nil
        var caller: Workspace?
        if hasKey || components.configuration.imagesRequireKey {
            guard let workspace = try await AuthMiddleware.workspace(for: request, store: components.store, keys: components.keyCache) else {
                throw APIError.unauthorized(keyGiven: hasKey)
            }
            caller = workspace
            context.facts.workspaceName.withLock { $0 = workspace.name }
        }
        guard let record = try await components.store.image(id: imageId), record.fileName == fileName,
            caller == nil || caller?.id == record.workspaceId,
            let data = try components.images.read(fileName: fileName)
        else { throw notFound }
        return Response(
            status: .ok,
            headers: [.contentType: "image/png", .cacheControl: "private, max-age=86400"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
