import EaselDiffusion
import Foundation
import Hummingbird

/// Leap's `ModelV2Entity`, plus Easel's extras (`format`, `visibility`, `defaults`,
/// `nativeSize`, and the recipe: `base`, `loras`, `tinyAutoencoder`, `scheduler`).
struct ModelV2Entity: Encodable, Sendable {
    var id: String
    var name: String
    var createdAt: String
    var subjectKeyword: String
    var subjectType: String
    var status: String
    var imageSamples: [String]
    var format: String
    /// `public` (installed by the operator) or `workspace` (this workspace's own).
    var visibility: String
    /// What a request that leaves a field out gets.
    var defaults = ModelDefaults()
    /// The size the model was trained at, when known (measured at install, or a diffusers
    /// folder's configs).
    var nativeSize: NativeSize?
    /// The checkpoint it was installed from, and what was installed with it.
    var base: String?
    var loras: [LoRA] = []
    var tinyAutoencoder: String?
    /// The scheduler its jobs run with (absent: the checkpoint's own).
    var scheduler: String?

    struct NativeSize: Encodable, Sendable {
        var width: Int
        var height: Int
    }

    struct LoRA: Encodable, Sendable {
        var name: String
        var scale: Double
    }

    /// The defaults the validator applies, as one value (the playground pre-fills its
    /// fields with them): the model's recipe, else its native size and Leap's.
    struct ModelDefaults: Encodable, Sendable {
        var negativePrompt = LeapDefaults.negativePrompt
        var steps = LeapDefaults.steps
        var width = LeapDefaults.size
        var height = LeapDefaults.size
        var numberOfImages = LeapDefaults.count
        var promptStrength = LeapDefaults.guidanceScale
        var seed = LeapDefaults.seed
    }

    init(_ model: ModelRecord, dataDirectory: URL) {
        self.init(model)
        let installed = InstalledModel(record: model, dataDirectory: dataDirectory)
        let recipe = model.recipe
        if let width = recipe.nativeWidth, let height = recipe.nativeHeight {
            nativeSize = NativeSize(width: width, height: height)
        } else {
            nativeSize = installed.nativeSize().map { NativeSize(width: $0.width, height: $0.height) }
        }
        let jobDefaults = installed.defaults
        defaults.steps = jobDefaults.steps
        defaults.width = jobDefaults.width
        defaults.height = jobDefaults.height
        defaults.promptStrength = jobDefaults.guidance
    }

    init(_ model: ModelRecord) {
        id = model.id
        name = model.name
        createdAt = ISOTime.string(model.createdAt)
        subjectKeyword = model.subjectKeyword
        subjectType = model.subjectType
        // Installed models are ready to use: Leap's word for a trained model.
        status = "finished"
        imageSamples = []
        format = model.format.rawValue
        visibility = model.workspaceId == nil ? "public" : "workspace"
        base = model.recipe.base
        loras = model.recipe.loras.map { LoRA(name: $0.name, scale: $0.scale) }
        tinyAutoencoder = model.recipe.tinyAutoencoderName
        scheduler = model.recipe.scheduler
    }
}

/// `/api/v2/images/models`: the public models plus the workspace's own. Models are read
/// from the store per request, so `easel models add` shows up without a restart.
struct ModelsController: Sendable {
    let components: ServerComponents

    var endpoints: RouteCollection<EaselRequestContext> {
        RouteCollection(context: EaselRequestContext.self)
            .get(use: list)
            .post("new", use: train)
            .get(":modelId", use: find)
            .delete(":modelId", use: delete)
    }

    struct ModelList: Encodable {
        var models: [ModelV2Entity]
    }

    @Sendable func list(request: Request, context: EaselRequestContext) async throws -> Response {
        let workspace = try context.requireWorkspace()
        let models = try await components.store.models(visibleTo: workspace.id)
        return InferencesController.json(try WireJSON.encode(ModelList(models: models.map { ModelV2Entity($0, dataDirectory: dataDirectory) })), status: .ok)
    }

    @Sendable func find(request: Request, context: EaselRequestContext) async throws -> Response {
        let model = try await visibleModel(context)
        return InferencesController.json(
            try WireJSON.encode(ModelV2Entity(model, dataDirectory: dataDirectory)), status: .ok)
    }

    var dataDirectory: URL { components.configuration.dataDirectory.root }

    /// Deletes one of the workspace's own models; public ones belong to the operator.
    @Sendable func delete(request: Request, context: EaselRequestContext) async throws -> Response {
        let model = try await visibleModel(context)
        guard model.workspaceId != nil else {
            throw APIError(.forbidden, "Model \(model.id) is a public model; the operator removes it with `easel models remove`")
        }
        let installer = ModelInstaller(
            dataDirectory: components.configuration.dataDirectory, store: components.store)
        guard let removed = try await installer.remove(id: model.id) else {
            throw APIError.notFound("Model \(model.id) not found")
        }
        context.logger.info("model removed", metadata: ["model.id": "\(removed.id)"])
        return InferencesController.json(try WireJSON.encode(ModelV2Entity(removed)), status: .ok)
    }

    /// Leap trains custom models from sample images; Easel installs checkpoints instead.
    @Sendable func train(request: Request, context: EaselRequestContext) async throws -> Response {
        _ = try context.requireWorkspace()
        throw APIError(
            .notImplemented,
            "Easel does not train models; install a checkpoint with `easel models add PATH --name NAME`")
    }

    func visibleModel(_ context: EaselRequestContext) async throws -> ModelRecord {
        let workspace = try context.requireWorkspace()
        let modelId = try context.parameters.require("modelId")
        guard let model = try await components.store.model(id: modelId),
            model.workspaceId == nil || model.workspaceId == workspace.id
        else { throw APIError.notFound("Model \(modelId) not found") }
        return model
    }
}
