import EaselServer
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A tiny Hummingbird server on a free loopback port that records webhook deliveries.
/// It can answer the first ones with a failure or hang past the sender's timeout.
final class WebhookReceiver: Sendable {
    enum Answer: Sendable {
        case status(HTTPResponse.Status)
        case hang(Duration)
    }

    struct Delivery: Sendable {
        var headers: HTTPFields
        var body: Data
        /// The `Host` header (HTTP/1's Host becomes the request's authority).
        var authority: String?
    }

    let received = Locked<[Delivery]>([])
    private let script: Locked<[Answer]>
    private let address: String

    /// - Parameter script: answers for the first requests, in order; 204 afterwards.
    /// - Parameter address: the loopback address to listen on.
    init(script: [Answer] = [], address: String = "127.0.0.1") {
        self.script = Locked(script)
        self.address = address
    }

    func run<T: Sendable>(_ body: @Sendable (_ url: String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("hook") { [self] request, _ -> Response in
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            received.withLock {
                $0.append(
                    Delivery(headers: request.headers, body: Data(buffer.readableBytesView), authority: request.head.authority))
            }
            let answer = script.withLock { $0.isEmpty ? Answer.status(.noContent) : $0.removeFirst() }
            switch answer {
            case .status(let status):
                return Response(status: status)
            case .hang(let duration):
                try? await Task.sleep(for: duration)
                return Response(status: .noContent)
            }
        }
        var logger = Logger(label: "webhook-receiver")
        logger.logLevel = .critical
        let (ports, portFeed) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname(address, port: 0)),
            onServerRunning: { channel in portFeed.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            do {
                let value = try await body("http://\(address):\(port)/hook")
                await group.triggerGracefulShutdown()
                return value
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }
}
