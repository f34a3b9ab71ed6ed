import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging

/// `/api/v1/images/models/{modelId}/inferences`: submit, list, get, delete, and Easel's
/// cancel and event stream. Every job lookup is scoped to the caller's workspace, so
/// another workspace's job answers 404 as if it did not exist.
struct InferencesController: Sendable {
    let components: ServerComponents

    var endpoints: RouteCollection<EaselRequestContext> {
        RouteCollection(context: EaselRequestContext.self)
            .post(use: create)
            .get(use: list)
            .get(":inferenceId", use: find)
            .delete(":inferenceId", use: delete)
            .post(":inferenceId/cancel", use: cancel)
            .get(":inferenceId/events", use: events)
            .get(":inferenceId/preview.png", use: preview)
    }

    var store: any EaselStore { components.store }
    var renderer: InferenceRenderer { components.renderer }
    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    @Sendable func create(request: Request, context: EaselRequestContext) async throws -> Response {
        let workspace = try context.requireWorkspace()
        let modelId = try context.parameters.require("modelId")
        let limits = components.configuration.limits
        var request = request
        let body = try await request.collectBody(upTo: limits.maxInferenceBodyBytes)
        let validator = CreateInferenceValidator(
            limits: limits, allowPrivateWebhooks: components.configuration.webhooks.allowPrivateAddresses)
        // The model first, for its defaults; a body's problems are still told before a missing model.
        let found = try await store.model(id: modelId).flatMap {
            $0.workspaceId == nil || $0.workspaceId == workspace.id ? $0 : nil
        }
        let defaults = found.map { InstalledModel(record: $0, dataDirectory: components.configuration.dataDirectory.root).defaults }
        let input = try validator.validate(Data(body.readableBytesView), defaults: defaults ?? .leap).get()
        guard let model = found else { throw APIError.notFound("Model \(modelId) not found") }

        var claim: IdempotencyClaim?
        if let key = request.headers[Self.idempotencyHeader] {
            // Printable ASCII only (no control characters), counted in bytes.
            guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                throw APIError.badRequest(["Idempotency-Key must be 1 to 255 printable ASCII characters"])
            }
            claim = IdempotencyClaim(key: key, requestHash: input.fingerprint(modelId: modelId))
        }
        let outcome = try await JobActions(components: components).enqueue(
            input, model: model, workspace: workspace, idempotency: claim, logger: context.logger)
        switch outcome {
        case .created(let job):
            return try await respond(JobSnapshot(job: job, images: []), status: .created, workspaceId: workspace.id)
        case .replayed(let job):
            let snapshot = try await store.job(id: job.id, workspaceId: workspace.id) ?? JobSnapshot(job: job, images: [])
            return try await respond(
                snapshot, status: .created, workspaceId: workspace.id, headers: [Self.replayedHeader: "true"])
        case .idempotencyMismatch:
            throw APIError(.unprocessableContent, "Idempotency-Key was already used with a different request")
        case .tooManyQueued:
            // JobActions throws the 429 itself.
            throw APIError(.tooManyRequests, "This workspace has too many jobs waiting; retry later")
        }
    }

    @Sendable func list(request: Request, context: EaselRequestContext) async throws -> Response {
        let workspace = try context.requireWorkspace()
        let modelId = try context.parameters.require("modelId")
        let query = try ListQuery(request.uri.queryParameters, maxPageSize: components.configuration.limits.maxPageSize)
        let jobs = try await store.jobs(
            workspaceId: workspace.id, modelId: modelId, onlyFinished: query.onlyFinished,
            offset: (query.page - 1) * query.pageSize, limit: query.pageSize)
        let queue = jobs.contains { $0.job.state == .queued } ? try await store.queueSnapshot(workspaceId: workspace.id) : nil
        return Self.json(try InferenceEntity.json(jobs.map { renderer.entity($0, queue: queue) }), status: .ok)
    }

    /// One read of the store (the job, its images and its place in the queue together).
    @Sendable func find(request: Request, context: EaselRequestContext) async throws -> Response {
        let workspace = try context.requireWorkspace()
        let modelId = try context.parameters.require("modelId")
        let inferenceId = try context.parameters.require("inferenceId")
        guard let view = try await store.jobView(id: inferenceId, workspaceId: workspace.id),
            view.snapshot.job.modelId == modelId
        else { throw Self.jobNotFound(inferenceId) }
        return Self.json(try renderer.json(view.snapshot, queue: view.queue), status: .ok)
    }

    @Sendable func delete(request: Request, context: EaselRequestContext) async throws -> Response {
        let (workspace, found) = try await lookup(context)
        guard let deleted = try await store.deleteJob(id: found.job.id, workspaceId: workspace.id) else {
            throw Self.jobNotFound(found.job.id)
        }
        for image in deleted.images { components.images.delete(fileName: image.fileName) }
        components.previews.remove(jobId: deleted.job.id)
        components.events.publish(jobId: deleted.job.id, .deleted)
        context.logger.info(
            "job deleted", metadata: ["job.id": "\(deleted.job.id)", "state": "\(deleted.job.state.rawValue)"])
        return Self.json(try renderer.json(deleted), status: .ok)
    }

    @Sendable func cancel(request: Request, context: EaselRequestContext) async throws -> Response {
        let (workspace, found) = try await lookup(context)
        let outcome = try await JobActions(components: components).cancel(
            jobId: found.job.id, workspaceId: workspace.id, logger: context.logger)
        switch outcome {
        case .notFound:
            throw Self.jobNotFound(found.job.id)
        case .cancelledWhileQueued:
            break
        case .requested(let job):
            guard let snapshot = try await store.job(id: job.id, workspaceId: workspace.id) else {
                throw Self.jobNotFound(job.id)
            }
            return try await respond(snapshot, status: .accepted, workspaceId: workspace.id)
        case .alreadyEnded(let job):
            if job.state != .failed || job.failureReason != FailureReason.cancelled {
                throw APIError(.conflict, "Inference \(job.id) has already \(job.state.rawValue)")
            }
        }
        guard let snapshot = try await store.job(id: found.job.id, workspaceId: workspace.id) else {
            throw Self.jobNotFound(found.job.id)
        }
        return try await respond(snapshot, status: .ok, workspaceId: workspace.id)
    }

    @Sendable func events(request: Request, context: EaselRequestContext) async throws -> Response {
        let (workspace, _) = try await lookup(context)
        // HEAD: the stream's headers only; subscribing would leave a stream nobody reads.
        if context.isHeadRequest { return Response(status: .ok, headers: InferenceEventStream.headers) }
        let inferenceId = try context.parameters.require("inferenceId")
        return try await InferenceEventStream(components: components).response(
            jobId: inferenceId, workspaceId: workspace.id)
    }

    /// Easel's live preview of a running job (the entity's `preview.uri`); 404 when it has none.
    @Sendable func preview(request: Request, context: EaselRequestContext) async throws -> Response {
        let (_, found) = try await lookup(context)
        guard found.job.state == .processing, let preview = components.previews.latest(jobId: found.job.id),
              let data = try? Data(contentsOf: preview.url)
        else { throw APIError.notFound("Inference \(found.job.id) has no preview (previews exist while a job runs)") }
        return Response(
            status: .ok,
            headers: [.contentType: "image/png", .cacheControl: "no-store", HTTPField.Name("Easel-Preview-Step")!: "\(preview.step)"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: - Helpers

    /// The caller's job named in the path (and under the path's model), or 404.
    func lookup(_ context: EaselRequestContext) async throws -> (Workspace, JobSnapshot) {
        let workspace = try context.requireWorkspace()
        let modelId = try context.parameters.require("modelId")
        let inferenceId = try context.parameters.require("inferenceId")
        guard let snapshot = try await store.job(id: inferenceId, workspaceId: workspace.id),
            snapshot.job.modelId == modelId
        else { throw Self.jobNotFound(inferenceId) }
        return (workspace, snapshot)
    }

    func respond(
        _ snapshot: JobSnapshot, status: HTTPResponse.Status, workspaceId: String, headers: HTTPFields = [:]
    ) async throws -> Response {
        var snapshot = snapshot
        var queue: QueueSnapshot?
        // A queued job is read again with its place in the queue (as it is now: it may have
        // been claimed since).
        if snapshot.job.state == .queued, let view = try await store.jobView(id: snapshot.job.id, workspaceId: workspaceId) {
            snapshot = view.snapshot
            queue = view.queue
        }
        var response = Self.json(try renderer.json(snapshot, queue: queue), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    static func jobNotFound(_ id: String) -> APIError { .notFound("Inference \(id) not found") }

    static func json(_ data: Data, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// `?onlyFinished=&page=&pageSize=` (empty values mean "not given").
struct ListQuery {
    static let defaultPageSize = 10
    var onlyFinished = false
    var page = 1
    var pageSize = defaultPageSize

    init(_ query: FlatDictionary<Substring, Substring>, maxPageSize: Int) throws {
        var problems: [String] = []
        if let raw = query["onlyFinished"].map(String.init), !raw.isEmpty {
            switch raw.lowercased() {
            case "true", "1": onlyFinished = true
            case "false", "0": onlyFinished = false
            default: problems.append("onlyFinished must be a boolean value")
            }
        }
        page = Self.integer("page", query["page"], min: 1, max: Int(Int32.max), problems: &problems) ?? 1
        pageSize =
            Self.integer("pageSize", query["pageSize"], min: 1, max: maxPageSize, problems: &problems)
            ?? Self.defaultPageSize
        if !problems.isEmpty { throw APIError.badRequest(problems) }
    }

    /// Range-checked as a `Double` (so `1e30` or `-inf` is a 400, not a trap), then
    /// converted with `Int(exactly:)`.
    static func integer(_ name: String, _ raw: Substring?, min: Int, max: Int, problems: inout [String]) -> Int? {
        guard let raw, !raw.isEmpty else { return nil }
        guard let number = Double(raw), !number.isNaN, number.isInfinite || number == number.rounded() else {
            problems.append("\(name) must be an integer number")
            return nil
        }
        if number < Double(min) {
            problems.append("\(name) must not be less than \(min)")
            return nil
        }
        if number > Double(max) {
            problems.append("\(name) must not be greater than \(max)")
            return nil
        }
        guard let value = Int(exactly: number) else {
            problems.append("\(name) must be an integer number")
            return nil
        }
        return value
    }
}
