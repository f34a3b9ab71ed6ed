import Foundation
import Hummingbird

/// `GET .../inferences/{inferenceId}/webhooks` (Easel): the job's webhook deliveries and
/// every attempt (time, status code, error, duration), so a workspace can see what its
/// receiver got without asking the operator. Scoped like every job route: another
/// workspace's job answers 404.
struct WebhookDeliveriesController: Sendable {
    let components: ServerComponents

    var endpoints: RouteCollection<EaselRequestContext> {
        RouteCollection(context: EaselRequestContext.self)
            .get(":inferenceId/webhooks", use: list)
    }

    @Sendable func list(request: Request, context: EaselRequestContext) async throws -> Response {
        let (_, snapshot) = try await InferencesController(components: components).lookup(context)
        var deliveries: [WebhookDeliveryEntity] = []
        for delivery in try await components.store.deliveries(jobId: snapshot.job.id) {
            let attempts = try await components.store.attempts(deliveryId: delivery.id)
            deliveries.append(WebhookDeliveryEntity(delivery, attempts: attempts))
        }
        return InferencesController.json(try WireJSON.encode(WebhookDeliveriesEntity(deliveries: deliveries)), status: .ok)
    }
}

/// The body of the deliveries route.
struct WebhookDeliveriesEntity: Encodable, Sendable {
    var deliveries: [WebhookDeliveryEntity]
}

/// One delivery: where it goes, how it stands (`pending`, `delivered`, `failed`,
/// `refused`), and its attempts in order. The payload is not repeated: it is the job.
struct WebhookDeliveryEntity: Encodable, Sendable {
    var id: String
    var url: String
    var state: String
    var createdAt: String
    /// When the next attempt is due (pending only).
    var nextAttemptAt: String?
    var attempts: [WebhookAttemptEntity]

    init(_ delivery: WebhookDelivery, attempts: [WebhookAttempt]) {
        id = delivery.id
        url = delivery.url
        state = delivery.state.rawValue
        createdAt = ISOTime.string(delivery.createdAt)
        nextAttemptAt = delivery.state == .pending ? ISOTime.string(delivery.nextAttemptAt) : nil
        self.attempts = attempts.map(WebhookAttemptEntity.init)
    }
}

/// One attempt. `statusCode` and `error` are always present (null when there was no answer,
/// or no error), so a client reads one shape.
struct WebhookAttemptEntity: Encodable, Sendable {
    var number: Int
    var at: String
    var statusCode: Int?
    var error: String?
    var durationMs: Double

    init(_ attempt: WebhookAttempt) {
        number = attempt.number
        at = ISOTime.string(attempt.at)
        statusCode = attempt.statusCode
        error = attempt.error
        durationMs = InferenceRenderer.rounded(attempt.durationMilliseconds)
    }

    enum CodingKeys: String, CodingKey { case number, at, statusCode, error, durationMs }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(number, forKey: .number)
        try container.encode(at, forKey: .at)
        try container.encode(statusCode, forKey: .statusCode)
        try container.encode(error, forKey: .error)
        try container.encode(durationMs, forKey: .durationMs)
    }
}
