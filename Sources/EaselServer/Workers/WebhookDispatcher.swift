import AsyncHTTPClient
import EaselDiffusion
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Sends the webhooks of ended jobs, as a ServiceLifecycle service. Deliveries are rows
/// in the store (written in the same transaction that ended the job), so none is lost to
/// a restart. Each attempt is signed (Standard Webhooks), checked against non-global
/// addresses and sent to the address checked, bounded by a timeout, recorded, and retried
/// with exponential backoff on a non-2xx answer, a timeout or a refused connection. Ended
/// deliveries are pruned after the policy's retention.
struct WebhookDispatcher: Service {
    let store: any EaselStore
    let policy: WebhookPolicy
    let signal: WakeSignal
    let pollInterval: Duration
    let logger: Logger

    /// How often delivered and failed deliveries past the retention are removed.
    static let pruneInterval: Duration = .seconds(3600)

    func run() async throws {
        let shutdown = ShutdownFlag()
        let inFlight = Locked<Set<String>>([])
        await withGracefulShutdownHandler {
            await runWithShutdownDeadline(shutdown, deadline: Self.shutdownDeadline, [{ await dispatch(shutdown, inFlight) }])
        } onGracefulShutdown: {
            shutdown.begin()
            signal.signal()
        }
    }

    /// How long a stopping dispatcher lets deliveries in flight (and store calls) go on;
    /// one cut short is sent again once its claim runs out.
    static let shutdownDeadline: Duration = .seconds(3)
    /// How long one store call of the dispatcher may wait; past it the pass is tried again.
    static let storeWaitLimit: Duration = .seconds(30)

    private func dispatch(_ shutdown: ShutdownFlag, _ inFlight: Locked<Set<String>>) async {
        await StoreWaitLimit.$current.withValue(Self.storeWaitLimit) {
            await withDiscardingTaskGroup { group in
                var nextPrune = ContinuousClock.now
                while !shutdown.isSet && !Task.isCancelled {
                    if ContinuousClock.now >= nextPrune {
                        await prune()
                        nextPrune = ContinuousClock.now + Self.pruneInterval
                    }
                    // Claimed in one write: a pass that read before an attempt was recorded
                    // cannot take the same delivery again.
                    let now = Date()
                    let lease = now.addingTimeInterval(policy.timeout.seconds + 30)
                    let due = (try? await store.claimDueDeliveries(now: now, leaseUntil: lease, limit: 32)) ?? []
                    for delivery in due where inFlight.withLock({ $0.insert(delivery.id).inserted }) {
                        group.addTask {
                            await deliver(delivery)
                            inFlight.withLock { _ = $0.remove(delivery.id) }
                            signal.signal()
                        }
                    }
                    await signal.wait(timeout: await idleTime())
                }
            }
        }
    }

    /// Removes ended deliveries (and their attempts) older than the retention: their
    /// payloads hold prompts and image URIs, which should not outlive their use.
    func prune() async {
        let cutoff = Date().addingTimeInterval(-policy.retention.seconds)
        do {
            let removed = try await store.pruneDeliveries(endedBefore: cutoff)
            if removed > 0 {
                logger.info("webhook deliveries pruned", metadata: ["count": "\(removed)", "ended_before": "\(cutoff)"])
            }
        } catch {
            logger.error("could not prune webhook deliveries", metadata: ["error": "\(error)"])
        }
    }

    /// Until the next delivery is due (or the poll interval, for other processes' rows).
    func idleTime() async -> Duration {
        guard let next = try? await store.nextDeliveryDue() else { return pollInterval }
        let seconds = next.timeIntervalSinceNow
        // Due already means it is in flight: its completion signals us.
        if seconds <= 0 { return pollInterval }
        if seconds >= pollInterval.seconds { return pollInterval }
        return .milliseconds(Int64(seconds * 1000) + 1)
    }

    func deliver(_ delivery: WebhookDelivery) async {
        let number = delivery.attempts + 1
        let startedAt = Date()
        let clock = ContinuousClock.now
        var statusCode: Int?
        var failure: String?
        var permanent = false
        do {
            guard let workspace = try await store.workspace(id: delivery.workspaceId) else {
                throw DeliveryFailure.permanent("workspace no longer exists")
            }
            let target = try await AddressGuard(allowPrivate: policy.allowPrivateAddresses).vet(delivery.url)
            let request = try Self.request(for: delivery, secret: workspace.webhookSecret)
            // Bounded to a day before converting: the timeout is the operator's number.
            let deadline = NIODeadline.now() + .milliseconds(Int64(min(policy.timeout.seconds, 86_400) * 1000))
            let status = try await Self.send(request, pinnedTo: target, deadline: deadline)
            statusCode = status
            if !(200..<300).contains(status) { failure = "answered HTTP \(status)" }
        } catch let refusal as AddressRefusal {
            failure = refusal.description
            if case .unresolvable = refusal {} else { permanent = true }
        } catch DeliveryFailure.permanent(let why) {
            failure = why
            permanent = true
        } catch {
            failure = "\(error)"
        }

        let state: DeliveryState
        var nextAttempt: Date?
        if failure == nil {
            state = .delivered
        } else if permanent {
            state = failure?.hasPrefix("refused") == true ? .refused : .failed
        } else if number >= policy.maxAttempts {
            state = .failed
        } else {
            state = .pending
            nextAttempt = Date().addingTimeInterval(backoff(afterAttempt: number))
        }
        let attempt = WebhookAttempt(
            deliveryId: delivery.id, number: number, at: startedAt, statusCode: statusCode, error: failure,
            durationMilliseconds: (ContinuousClock.now - clock).seconds * 1000)
        do {
            try await store.recordAttempt(attempt, newState: state, nextAttemptAt: nextAttempt)
        } catch {
            logger.error("could not record webhook attempt", metadata: ["error": "\(error)"])
        }
        var metadata: Logger.Metadata = [
            "job.id": "\(delivery.jobId)", "webhook.id": "\(delivery.id)", "attempt": "\(number)",
            "outcome": "\(state.rawValue)",
        ]
        if let statusCode { metadata["http.status"] = "\(statusCode)" }
        if let failure { metadata["error"] = "\(failure)" }
        logger.info("webhook attempt", metadata: metadata)
    }

    /// Seconds to wait after the `attempt`-th failure: initial, doubled each time, capped.
    func backoff(afterAttempt attempt: Int) -> TimeInterval {
        let initial = policy.initialBackoff.seconds
        let cap = policy.maxBackoff.seconds
        return min(cap, initial * pow(2, Double(attempt - 1)))
    }

    /// The signed POST, addressed to the URL as given: the name stays in the `Host`
    /// header, in TLS's SNI and in certificate validation; `send` decides where it connects.
    static func request(for delivery: WebhookDelivery, secret: String) throws -> HTTPClientRequest {
        let timestamp = Int(Date().timeIntervalSince1970)
        let signature = try WebhookSigner.signature(
            secret: secret, messageId: delivery.id, timestamp: timestamp, payload: delivery.payload)
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Easel-Webhooks/1")
        request.headers.add(name: "webhook-id", value: delivery.id)
        request.headers.add(name: "webhook-timestamp", value: "\(timestamp)")
        request.headers.add(name: "webhook-signature", value: signature)
        request.body = .bytes(ByteBuffer(bytes: delivery.payload))
        return request
    }

    /// Sends over a client of its own that connects to the vetted address, and answers
    /// the status code. The client is shut down afterwards: its pinning is for this
    /// target only, and a pooled connection must not outlive the check that allowed it.
    static func send(_ request: HTTPClientRequest, pinnedTo target: AddressGuard.Target, deadline: NIODeadline)
        async throws -> Int
    {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration(pinnedTo: target))
        do {
            let response = try await client.execute(request, deadline: deadline, logger: nil)
            _ = try await response.body.collect(upTo: 1024 * 1024)
            try? await client.shutdown()
            return Int(response.status.code)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// No redirects (a 3xx could point anywhere), and the host name mapped to the vetted
    /// address (`dnsOverride`) for http and https alike, so the client never resolves the
    /// name again: a second DNS answer (rebinding) cannot redirect the request.
    static func clientConfiguration(pinnedTo target: AddressGuard.Target) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)))
        if let address = target.pinnedAddress { configuration.dnsOverride = [target.host: address] }
        return configuration
    }
}

enum DeliveryFailure: Error {
    case permanent(String)
}
