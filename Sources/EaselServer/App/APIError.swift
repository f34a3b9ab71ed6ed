import Foundation
import Hummingbird
import Logging

/// An error answered in the shape Leap's NestJS server uses:
/// `{"statusCode": 400, "message": ["..."], "error": "Bad Request"}`.
/// Validation errors carry a list of messages; others a single string.
public struct APIError: Error, Sendable {
    public enum Message: Sendable, Equatable {
        case text(String)
        case list([String])
    }

    public var status: HTTPResponse.Status
    public var message: Message
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = .text(message)
        self.headers = headers
    }

    public init(_ status: HTTPResponse.Status, messages: [String], headers: HTTPFields = [:]) {
        self.status = status
        self.message = .list(messages)
        self.headers = headers
    }

    static func badRequest(_ messages: [String]) -> APIError { APIError(.badRequest, messages: messages) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    /// 401 with the challenge RFC 6750 asks for: `WWW-Authenticate: Bearer realm="easel"`,
    /// plus `error="invalid_token"` when a key was sent but is not valid (a missing key
    /// gets no error code, as section 3.1 says).
    static func unauthorized(keyGiven: Bool = false) -> APIError {
        let challenge = keyGiven ? #"Bearer realm="easel", error="invalid_token""# : #"Bearer realm="easel""#
        return APIError(.unauthorized, "Unauthorized", headers: [.wwwAuthenticate: challenge])
    }

    /// The NestJS body: `error` is the status's reason phrase, as NestJS words it.
    func body() -> Data {
        let phrase = Self.nestPhrases[status.code] ?? status.reasonPhrase
        var object: [String: Any] = ["statusCode": status.code, "error": phrase]
        switch message {
        case .text(let text): object["message"] = text
        case .list(let list): object["message"] = list
        }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Where NestJS's wording differs from the current RFC's.
    static let nestPhrases = [413: "Payload Too Large", 422: "Unprocessable Entity"]

    func response() -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body())))
    }
}

/// Turns every error a route or the router throws into a NestJS-shaped JSON answer.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response()
        } catch let error as StoreUnavailable {
            context.logger.warning("database unavailable", metadata: ["error": "\(error.reason)"])
            return APIError(error).response()
        } catch let error as any HTTPResponseError {
            return APIError(error, request: request).response()
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)"])
            return APIError(.internalServerError, "Internal server error").response()
        }
    }
}

extension APIError {
    /// 503 while the database cannot be reached; the client may retry shortly.
    init(_ error: StoreUnavailable) {
        self.init(
            .serviceUnavailable, "Database unavailable (\(error.reason)); retry shortly", headers: [.retryAfter: "1"])
    }

    /// An error Hummingbird threw (no route, body too large, ...) in NestJS's words.
    init(_ error: any HTTPResponseError, request: Request) {
        let message: String
        switch error.status {
        case .notFound: message = "Cannot \(request.method.rawValue) \(request.uri.path)"
        case .contentTooLarge: message = "request entity too large"
        default: message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
        }
        self.init(error.status, message, headers: (error as? HTTPError)?.headers ?? [:])
    }
}
