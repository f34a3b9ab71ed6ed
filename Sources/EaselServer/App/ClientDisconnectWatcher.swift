import Foundation
import NIOCore
import NIOHTTPTypes

/// Tells a route that waits (the OpenAI generation route holds its request open until the
/// job ends) that its client went away. The server allows remote half-closure, so a client
/// that closes its socket shows up as `inputClosed` rather than a closed channel; either
/// counts. One instance per connection, in the channel pipeline; routes find it through the
/// request context's channel.
final class ClientDisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private struct State {
        var gone = false
        var callbacks: [UUID: @Sendable () -> Void] = [:]
    }

    private let state = Locked(State())

    /// Runs `callback` once when the client goes away (at once if it already has); the
    /// returned closure unregisters it.
    func onDisconnect(_ callback: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let token = UUID()
        let alreadyGone = state.withLock { state -> Bool in
            if !state.gone { state.callbacks[token] = callback }
            return state.gone
        }
        if alreadyGone { callback() }
        return { [weak self] in _ = self?.state.withLock { $0.callbacks.removeValue(forKey: token) } }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { disconnected() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disconnected()
        context.fireChannelInactive()
    }

    private func disconnected() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            state.gone = true
            defer { state.callbacks = [:] }
            return Array(state.callbacks.values)
        }
        for callback in callbacks { callback() }
    }
}
