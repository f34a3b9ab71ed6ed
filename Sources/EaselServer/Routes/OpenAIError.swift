import Foundation
import Hummingbird

/// An error in the shape OpenAI's API answers (and its clients parse):
/// `{"error": {"message", "type", "param", "code"}}`, with the usual status codes.
struct OpenAIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var param: String?
    var code: String?
    var headers: HTTPFields = [:]

    static func invalidRequest(_ message: String, param: String?, code: String? = nil) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    /// Easel's own errors (Leap's validator, auth, the queue) told the OpenAI way. Leap's
    /// field names in the messages become the OpenAI parameters they came from.
    init(_ error: APIError) {
        status = error.status
        headers = error.headers
        let messages: [String]
        switch error.message {
        case .text(let text): messages = [text]
        case .list(let list): messages = list
        }
        let translated = messages.map(Self.translate)
        message = translated.map(\.message).joined(separator: "; ")
        param = translated.first?.param
        switch status {
        case .unauthorized:
            type = "invalid_request_error"
            code = "invalid_api_key"
            message = "Incorrect API key provided"
        case .tooManyRequests:
            type = "requests"
            code = "rate_limit_exceeded"
        case .notFound:
            type = "invalid_request_error"
            code = "not_found"
        default:
            type = status.code >= 500 ? "server_error" : "invalid_request_error"
            code = nil
        }
    }

    init(
        status: HTTPResponse.Status, message: String, type: String, param: String?, code: String?,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers
    }

    /// Leap's request field -> the OpenAI parameter it came from.
    static let parameterNames: [String: String] = [
        "prompt": "prompt", "negativePrompt": "negative_prompt", "steps": "steps", "width": "size",
        "height": "size", "numberOfImages": "n", "promptStrength": "guidance_scale", "seed": "seed",
    ]

    /// "numberOfImages must not be greater than 4" -> ("n must not be greater than 4", "n").
    /// Width and height keep their words ("width must be a multiple of 8"), under `size`.
    static func translate(_ message: String) -> (message: String, param: String?) {
        let field = String(message.prefix { $0.isLetter })
        guard let param = parameterNames[field] else { return (message, nil) }
        if param == "size" { return (message, param) }
        return (param + message.dropFirst(field.count), param)
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String?

            func encode(to encoder: any Encoder) throws {
                // Every key present, null when unset, as OpenAI sends them.
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }

            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }

        var error: Detail
    }

    func response() -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        let body = Body(error: .init(message: message, type: type, param: param, code: code))
        let data = (try? WireJSON.encode(body)) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Answers every error under `/v1` in OpenAI's shape (Leap's routes keep NestJS's).
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as OpenAIError {
            return error.response()
        } catch let error as APIError {
            return OpenAIError(error).response()
        } catch let error as StoreUnavailable {
            context.logger.warning("database unavailable", metadata: ["error": "\(error.reason)"])
            return OpenAIError(APIError(error)).response()
        } catch let error as any HTTPResponseError {
            return OpenAIError(APIError(error, request: request)).response()
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return OpenAIError(
                status: .internalServerError, message: "Internal server error", type: "server_error", param: nil, code: nil
            ).response()
        }
    }
}
