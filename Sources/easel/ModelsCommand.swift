import ArgumentParser
import EaselDiffusion
import EaselServer
import Foundation

/// `easel models`: install, list and remove checkpoints. Works while the server runs (it
/// reads models per request from the same database).
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Install, list and remove models (diffusers folders or single-file .safetensors).",
        subcommands: [Add.self, List.self, Remove.self],
        defaultSubcommand: List.self)

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a model as a public model (or a workspace's own with --workspace).")

        @Argument(help: "A diffusers folder (with model_index.json) or a .safetensors file.") var path: String
        @Option(help: "Model name; the model id is derived from it, so it is stable.") var name: String
        @Option(help: "Install as this workspace's custom model instead of a public one.") var workspace: String?
        @Flag(help: "Link to the files instead of copying them into the data directory.") var link = false
        @Option(help: "For a non-standard single file: a diffusers folder whose configs and tokenizer it uses.")
        var config: String?
        @Option(help: "What the model's jobs run in: fp32 (diffusers' float32 pixels) or bf16 (half the weight memory; bfloat16 products, AMX where the CPU has it).")
        var precision: String = Precision.float32.rawValue
        @Option(name: .customLong("lora"),
                help: "A LoRA fused into the model, FILE or FILE:SCALE (default scale 1); repeat for several. Copied (or linked) with the model.")
        var loras: [String] = []
        @Option(help: "A tiny autoencoder (TAESD) the model decodes with: a diffusers AutoencoderTiny folder, or madebyollin's taesd_decoder.safetensors.")
        var tinyAutoencoder: String?
        @Option(help: "The scheduler its jobs run with: \(SchedulerName.validNames.joined(separator: ", ")) (default: the checkpoint's own).")
        var scheduler: String?
        @Option(help: "Steps for a job that does not say (default: Leap's \(LeapDefaults.steps)).") var steps: Int?
        @Option(help: "Guidance (Leap's promptStrength) for a job that does not say (default: Leap's \(LeapDefaults.guidanceScale)).")
        var guidance: Double?
        @Option(help: "Width for a job that does not say (default: the model's native size).") var width: Int?
        @Option(help: "Height for a job that does not say (default: the model's native size).") var height: Int?
        @OptionGroup var data: DataDirectoryOption

        var recipe: ModelRecipeOptions {
            ModelRecipeOptions(
                loras: loras.map(LoRAAdapter.init(argument:)), tinyAutoencoder: tinyAutoencoder.map { URL(fileURLWithPath: $0) },
                scheduler: scheduler, steps: steps, guidance: guidance, width: width, height: height)
        }

        func validate() throws {
            if Precision(name: precision) == nil {
                throw ValidationError("unknown --precision \(precision); expected fp32 or bf16")
            }
            if let problem = recipe.problems().first { throw ValidationError(problem) }
        }

        func run() async throws {
            let store = try await data.openStore()
            var owner: Workspace?
            if let workspace {
                guard let found = try await store.workspace(named: workspace, createIfMissing: false) else {
                    throw CommandFailure("no workspace named \(workspace) (create one with easel keys create)")
                }
                owner = found
            }
            let installer = ModelInstaller(dataDirectory: data.directory, store: store)
            do {
                let model = try await installer.install(
                    source: URL(fileURLWithPath: path), name: name, workspaceId: owner?.id, link: link,
                    configFolder: config.map { URL(fileURLWithPath: $0) }, precision: Precision(name: precision) ?? .float32,
                    recipe: recipe)
                print("installed \(model.name) (\(model.format.rawValue), \(link ? "linked" : "copied"), \(model.precision.rawValue))")
                let summary = Self.describe(model.recipe)
                if !summary.isEmpty { print("recipe: \(summary)") }
                print("model id: \(model.id)")
            } catch let error as ModelInstallError {
                throw CommandFailure(error.description)
            }
        }

        /// The recipe in one line: LoRAs, tiny autoencoder, scheduler and job defaults.
        static func describe(_ recipe: ModelRecipe) -> String {
            var parts = recipe.loras.map { "lora \($0.name):\($0.scale)" }
            if let tiny = recipe.tinyAutoencoderName { parts.append("tiny autoencoder \(tiny)") }
            if let scheduler = recipe.scheduler { parts.append("scheduler \(scheduler)") }
            if let steps = recipe.steps { parts.append("\(steps) steps") }
            if let guidance = recipe.guidance { parts.append("guidance \(guidance)") }
            if recipe.width != nil || recipe.height != nil {
                parts.append("\(recipe.width.map(String.init) ?? "native")x\(recipe.height.map(String.init) ?? "native")")
            }
            return parts.joined(separator: ", ")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List installed models.")

        @OptionGroup var data: DataDirectoryOption

        func run() async throws {
            let store = try await data.openStore()
            let models = try await store.models(visibleTo: nil)
            if models.isEmpty {
                print("No models yet: easel models add PATH --name NAME")
                return
            }
            let names = Dictionary(uniqueKeysWithValues: try await store.workspaces().map { ($0.id, $0.name) })
            for model in models {
                let owner = model.workspaceId.map { "workspace \(names[$0] ?? $0)" } ?? "public"
                let recipe = Add.describe(model.recipe)
                print("\(model.id)  \(model.name)  \(model.format.rawValue)  \(model.precision.rawValue)  \(owner)  \(model.path)"
                      + (recipe.isEmpty ? "" : "  [\(recipe)]"))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a model (by id or name) and its files.")

        @Argument(help: "Model id or name.") var model: String
        @OptionGroup var data: DataDirectoryOption

        func run() async throws {
            let store = try await data.openStore()
            let all = try await store.models(visibleTo: nil)
            let matches = all.filter { $0.id == model || $0.name == model }
            guard let target = matches.first else { throw CommandFailure("no model with id or name \(model)") }
            guard matches.count == 1 else {
                throw CommandFailure("\(matches.count) models are named \(model); remove one by id")
            }
            let installer = ModelInstaller(dataDirectory: data.directory, store: store)
            try await installer.remove(id: target.id)
            print("removed \(target.name) (\(target.id))")
        }
    }
}
