import EaselDiffusion
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle

/// OpenAI's Images API as a second front door: `POST /v1/images/generations`, `GET
/// /v1/models` and `GET /v1/models/{model}`. A generation is translated into Leap's fields,
/// checked by the one Leap validator, and queued as an ordinary durable job (it shows in
/// Leap's list, its images are the same files); the request waits for the job to end, and
/// a client that goes away cancels it. Errors are OpenAI-shaped (`OpenAIErrorMiddleware`).
struct OpenAIImagesController: Sendable {
    let components: ServerComponents

    var endpoints: RouteCollection<EaselRequestContext> {
        RouteCollection(context: EaselRequestContext.self)
            .post("images/generations", use: generate)
            .get("models", use: listModels)
            .get("models/:model", use: findModel)
    }

    var store: any EaselStore { components.store }

    // MARK: - Models

    struct ModelObject: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy: String
        /// Easel's addition: the installed name (`model` accepts it as well as the id).
        var name: String

        enum CodingKeys: String, CodingKey {
            case id, object, created, name
            case ownedBy = "owned_by"
        }

        init(_ model: ModelRecord) {
            id = model.id
            created = Int(model.createdAt.timeIntervalSince1970)
            ownedBy = model.workspaceId == nil ? "easel" : "workspace"
            name = model.name
        }
    }

    struct ModelList: Encodable {
        var object = "list"
        var data: [ModelObject]
    }

    @Sendable func listModels(request: Request, context: EaselRequestContext) async throws -> Response {
        let workspace = try context.requireWorkspace()
        let models = try await store.models(visibleTo: workspace.id)
        return InferencesController.json(try WireJSON.encode(ModelList(data: models.map(ModelObject.init))), status: .ok)
    }

    @Sendable func findModel(request: Request, context: EaselRequestContext) async throws -> Response {
        let workspace = try context.requireWorkspace()
        let model = try await resolveModel(try context.parameters.require("model"), workspace: workspace)
        return InferencesController.json(try WireJSON.encode(ModelObject(model)), status: .ok)
    }

    /// A model this workspace may use, by id or by installed name; 404 otherwise.
    func resolveModel(_ idOrName: String, workspace: Workspace) async throws -> ModelRecord {
        if let model = try await store.model(id: idOrName), model.workspaceId == nil || model.workspaceId == workspace.id {
            return model
        }
        let visible = try await store.models(visibleTo: workspace.id)
        // The workspace's own model first when a public one has the same name.
        if let model = visible.first(where: { $0.name == idOrName && $0.workspaceId != nil })
            ?? visible.first(where: { $0.name == idOrName })
        {
            return model
        }
        throw OpenAIError(
            status: .notFound, message: "The model '\(idOrName)' does not exist", type: "invalid_request_error",
            param: "model", code: "model_not_found")
    }

    // MARK: - Generations

    struct ImageData: Encodable {
        var b64JSON: String?
        var url: String?

        enum CodingKeys: String, CodingKey {
            case b64JSON = "b64_json"
            case url
        }
    }

    struct ImagesResponse: Encodable {
        var created: Int
        var data: [ImageData]
    }

    @Sendable func generate(request: Request, context: EaselRequestContext) async throws -> Response {
        let workspace = try context.requireWorkspace()
        // Found now, while the connection is surely open: once it closes, its pipeline (the
        // watcher with it) is torn down and a later lookup would find nothing to tell us.
        let watcher = await context.disconnectWatcher()
        let limits = components.configuration.limits
        var request = request
        let body = try await request.collectBody(upTo: limits.maxBodyBytes)
        let object = try RequestJSON.object(Data(body.readableBytesView)).get()
        let generation = try OpenAIGeneration(object)
        let validator = CreateInferenceValidator(
            limits: limits, allowPrivateWebhooks: components.configuration.webhooks.allowPrivateAddresses)
        // The model's defaults fill what the request leaves out (its native size for no `size`
        // or "auto"); the request's problems are told before an unknown model.
        let found = try? await resolveModel(generation.model, workspace: workspace)
        let defaults = found.map { InstalledModel(record: $0, dataDirectory: components.configuration.dataDirectory.root).defaults }
        let input = try validator.validate(object: generation.leapBody, defaults: defaults ?? .leap).get()
        let model: ModelRecord
        if let found { model = found } else { model = try await resolveModel(generation.model, workspace: workspace) }

        let outcome = try await JobActions(components: components).enqueue(
            input, model: model, workspace: workspace, idempotency: nil, logger: context.logger)
        guard case .created(let job) = outcome else {
            throw OpenAIError(
                status: .internalServerError, message: "the job could not be queued", type: "server_error", param: nil,
                code: nil)
        }
        let ended = try await waitForEnd(jobId: job.id, workspace: workspace, context: context, watcher: watcher)
        var response = try answer(ended, format: generation.responseFormat)
        response.headers[Self.inferenceIdHeader] = job.id
        return response
    }

    /// The Leap job behind an answer, so a client can find it in Leap's list.
    static let inferenceIdHeader = HTTPField.Name("Easel-Inference-Id")!

    func answer(_ snapshot: JobSnapshot, format: OpenAIGeneration.ResponseFormat) throws -> Response {
        let job = snapshot.job
        guard job.state == .finished else {
            let reason = job.failureReason ?? "unknown"
            throw OpenAIError(
                status: .internalServerError, message: "The generation failed: \(reason)", type: "server_error",
                param: nil, code: reason == FailureReason.cancelled ? "cancelled" : "generation_failed",
                headers: [Self.inferenceIdHeader: job.id])
        }
        // The URIs exactly as Leap's job entity gives them (one owner of the image URI).
        let uris = Dictionary(
            uniqueKeysWithValues: components.renderer.entity(snapshot).images.map { ($0.id, $0.uri) })
        let data = try snapshot.images.sorted { $0.position < $1.position }.map { image -> ImageData in
            switch format {
            case .url:
                return ImageData(url: uris[image.id])
            case .b64JSON:
                guard let png = try components.images.read(fileName: image.fileName) else {
                    throw OpenAIError(
                        status: .internalServerError, message: "an image of the job is missing", type: "server_error",
                        param: nil, code: nil)
                }
                return ImageData(b64JSON: png.base64EncodedString())
            }
        }
        let created = Int(job.createdAt.timeIntervalSince1970)
        return InferencesController.json(try WireJSON.encode(ImagesResponse(created: created, data: data)), status: .ok)
    }

    /// Follows the job (woken by the event hub, and a look at the store every second for
    /// work done by another process) until it ends. A client that goes away cancels it. A
    /// server shutting down answers 503 and leaves the job queued (it is durable), rather
    /// than holding the shutdown until the job is done; so does a request task cancelled.
    func waitForEnd(jobId: String, workspace: Workspace, context: EaselRequestContext,
                    watcher: ClientDisconnectWatcher?) async throws -> JobSnapshot {
        let (stream, feed) = AsyncStream.makeStream(of: JobEvent.self)
        let unsubscribe = components.events.subscribe(jobId: jobId, feed)
        let shuttingDown = Locked(false)
        let (components, logger) = (self.components, context.logger)
        let stopWatching = watcher?.onDisconnect {
            // Cancelled from a task of its own: the closed connection may cancel this
            // request's task first, and then the loop below would answer 503 and leave the
            // job running for nobody.
            Task {
                logger.info("client went away; cancelling its job", metadata: ["job.id": "\(jobId)"])
                _ = try? await JobActions(components: components).cancel(
                    jobId: jobId, workspaceId: workspace.id, logger: logger)
            }
            feed.yield(.tick)
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: InferenceEventStream.tick)
                feed.yield(.tick)
            }
        }
        defer {
            ticker.cancel()
            stopWatching?()
            unsubscribe()
            feed.finish()
        }
        let serverStopping = OpenAIError(
            status: .serviceUnavailable, message: "The server is shutting down; the job stays queued",
            type: "server_error", param: nil, code: nil, headers: [Self.inferenceIdHeader: jobId])
        return try await withGracefulShutdownHandler {
            var iterator = stream.makeAsyncIterator()
            while true {
                guard let snapshot = try await store.job(id: jobId, workspaceId: workspace.id) else {
                    throw OpenAIError(
                        status: .internalServerError, message: "The job was deleted before it finished",
                        type: "server_error", param: nil, code: "deleted", headers: [Self.inferenceIdHeader: jobId])
                }
                if snapshot.job.state.isTerminal { return snapshot }
                if shuttingDown.current || Task.isCancelled { throw serverStopping }
                // Nil when the task is cancelled.
                guard await iterator.next() != nil else { throw serverStopping }
            }
        } onGracefulShutdown: {
            shuttingDown.withLock { $0 = true }
            feed.yield(.tick)
        }
    }
}

/// `POST /v1/images/generations`'s body, checked for what is OpenAI's own (`model`,
/// `size`, `response_format`) and translated into Leap's fields for the Leap validator.
struct OpenAIGeneration {
    enum ResponseFormat: String { case url, b64JSON = "b64_json" }

    var model: String
    var responseFormat: ResponseFormat
    /// The request in Leap's words (`CreateInferenceDto`).
    var leapBody: JSONValue

    /// OpenAI's parameter -> Leap's field, for those that pass through unchanged.
    static let passedThrough: [(openAI: String, leap: String)] = [
        ("prompt", "prompt"), ("n", "numberOfImages"), ("negative_prompt", "negativePrompt"), ("steps", "steps"),
        ("seed", "seed"), ("guidance_scale", "promptStrength"),
    ]

    init(_ object: JSONValue) throws {
        func field(_ name: String) -> JSONValue? {
            if case .null = object[name] ?? .null { return nil }
            return object[name]
        }
        guard case .string(let model) = field("model") ?? .null, !model.isEmpty else {
            throw OpenAIError.invalidRequest(
                "model must be the id or name of an installed model (GET /v1/models)", param: "model")
        }
        self.model = model

        switch field("response_format") {
        case nil: responseFormat = .url
        case .string(let text)? where ResponseFormat(rawValue: text) != nil:
            responseFormat = ResponseFormat(rawValue: text) ?? .url
        default:
            throw OpenAIError.invalidRequest("response_format must be 'url' or 'b64_json'", param: "response_format")
        }

        var members: [(key: String, value: JSONValue)] = []
        for (openAI, leap) in Self.passedThrough {
            if let value = field(openAI) { members.append((leap, value)) }
        }
        if let (width, height) = try Self.size(field("size")) {
            members.append(("width", .number(width)))
            members.append(("height", .number(height)))
        }
        leapBody = .object(members)
    }

    /// `"WxH"` as two JSON number texts (the Leap validator checks their range and the
    /// multiple of 8); nil for no size or `"auto"`, which leave the defaults.
    static func size(_ value: JSONValue?) throws -> (String, String)? {
        guard let value else { return nil }
        let problem = OpenAIError.invalidRequest(
            "size must be WIDTHxHEIGHT in pixels, e.g. \"512x512\"", param: "size", code: "invalid_size")
        guard case .string(let text) = value else { throw problem }
        if text == "auto" { return nil }
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2,
            parts.allSatisfy({ (1...6).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else { throw problem }
        return (String(parts[0]), String(parts[1]))
    }
}
