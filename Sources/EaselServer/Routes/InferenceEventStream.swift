import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// `GET .../inferences/{id}/events`: Server-Sent Events until the job ends.
///
/// - `event: state` — the job entity (as GET returns it): first the current one, then on
///   every state change; the last event of the stream is the final state.
/// - `event: step` — `{"id", "step", "totalSteps"}` after every denoising step, in order.
/// - `event: preview` — `{"id", "step", "uri"}` when a new live preview is stored (every few steps).
/// - `event: deleted` — the job was deleted; the stream ends.
///
/// The hub says "look now" (for changes by another process too, when the store sends
/// notifications: PostgreSQL); a once-a-second look at the store catches what no
/// notification told, and a comment line keeps idle connections open.
struct InferenceEventStream: Sendable {
    let components: ServerComponents
    static let tick: Duration = .seconds(1)
    static let keepAliveTicks = 15

    struct StepEvent: Encodable {
        var id: String
        var step: Int
        var totalSteps: Int
    }

    struct PreviewEvent: Encodable {
        var id: String
        var step: Int
        var uri: String
    }

    func response(jobId: String, workspaceId: String) async throws -> Response {
        let (stream, feed) = AsyncStream.makeStream(of: JobEvent.self)
        // Subscribe before reading, so nothing between the read and the first event is lost.
        let unsubscribe = components.events.subscribe(jobId: jobId, feed)
        guard let first = try await components.store.job(id: jobId, workspaceId: workspaceId) else {
            unsubscribe()
            throw InferencesController.jobNotFound(jobId)
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.tick)
                feed.yield(.tick)
            }
        }
        let components = self.components
        let body = ResponseBody { writer in
            defer {
                ticker.cancel()
                unsubscribe()
                feed.finish()
            }
            var follower = Follower(components: components, jobId: jobId, workspaceId: workspaceId, last: first)
            try await writer.write(try await follower.stateEvent(first))
            if !first.job.state.isTerminal {
                loop: for await event in stream {
                    for chunk in try await follower.handle(event) {
                        try await writer.write(chunk)
                    }
                    if follower.ended { break loop }
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: Self.headers, body: body)
    }

    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no",
    ]

    /// Turns hub events into SSE chunks, de-duplicating against what was already sent.
    struct Follower {
        let components: ServerComponents
        let jobId: String
        let workspaceId: String
        var lastState: JobState
        var lastStep: Int
        var lastPreview = 0
        var modelId: String
        var ticks = 0
        var ended = false

        init(components: ServerComponents, jobId: String, workspaceId: String, last: JobSnapshot) {
            self.components = components
            self.jobId = jobId
            self.workspaceId = workspaceId
            lastState = last.job.state
            lastStep = last.job.currentStep ?? 0
            modelId = last.job.modelId
        }

        mutating func handle(_ event: JobEvent) async throws -> [ByteBuffer] {
            switch event {
            case .step(let step, let total):
                return stepEvent(step, total: total).map { [$0] } ?? []
            case .preview:
                return previewEvent().map { [$0] } ?? []
            case .state, .cancelRequested, .changed:
                return try await refresh(force: event == .cancelRequested)
            case .deleted:
                ended = true
                return [Self.chunk(event: "deleted", data: Data("{\"id\":\"\(jobId)\"}".utf8))]
            case .tick:
                ticks += 1
                var chunks = try await refresh(force: false)
                if !ended && ticks % InferenceEventStream.keepAliveTicks == 0 {
                    chunks.append(ByteBuffer(string: ": keep-alive\n\n"))
                }
                return chunks
            }
        }

        /// Re-reads the job. Steps the store has that were not sent yet go first (the
        /// events may still be queued behind this look, or come from another process),
        /// then a new state (or any state when `force`).
        mutating func refresh(force: Bool) async throws -> [ByteBuffer] {
            guard let snapshot = try await components.store.job(id: jobId, workspaceId: workspaceId) else {
                ended = true
                return [Self.chunk(event: "deleted", data: Data("{\"id\":\"\(jobId)\"}".utf8))]
            }
            var chunks: [ByteBuffer] = []
            if let step = snapshot.job.currentStep, step > lastStep,
                lastState == .processing || snapshot.job.state == .processing
            {
                for missing in (lastStep + 1)...step {
                    if let chunk = stepEvent(missing, total: snapshot.job.steps) { chunks.append(chunk) }
                }
            }
            if snapshot.job.state == .processing, let chunk = previewEvent() { chunks.append(chunk) }
            if snapshot.job.state != lastState || force {
                chunks.append(try await stateEvent(snapshot))
            }
            return chunks
        }

        /// The stored preview, when it is newer than the last one sent (the file is the
        /// truth, so a preview written by another process is found on the next look).
        mutating func previewEvent() -> ByteBuffer? {
            guard let preview = components.previews.latest(jobId: jobId), preview.step > lastPreview else { return nil }
            lastPreview = preview.step
            let uri = components.renderer.previewURI(modelId: modelId, jobId: jobId)
            let data = (try? WireJSON.encode(PreviewEvent(id: jobId, step: preview.step, uri: uri))) ?? Data()
            return Self.chunk(event: "preview", data: data)
        }

        mutating func stepEvent(_ step: Int, total: Int) -> ByteBuffer? {
            guard step > lastStep else { return nil }
            lastStep = step
            let data = (try? WireJSON.encode(StepEvent(id: jobId, step: step, totalSteps: total))) ?? Data()
            return Self.chunk(event: "step", data: data)
        }

        mutating func stateEvent(_ snapshot: JobSnapshot) async throws -> ByteBuffer {
            if snapshot.job.state != lastState && snapshot.job.state == .queued { lastStep = 0 }
            lastState = snapshot.job.state
            ended = snapshot.job.state.isTerminal
            let queue =
                snapshot.job.state == .queued ? try await components.store.queueSnapshot(workspaceId: workspaceId) : nil
            return Self.chunk(event: "state", data: try components.renderer.json(snapshot, queue: queue))
        }

        static func chunk(event: String, data: Data) -> ByteBuffer {
            var buffer = ByteBuffer(string: "event: \(event)\ndata: ")
            buffer.writeBytes(data)
            buffer.writeString("\n\n")
            return buffer
        }
    }
}
