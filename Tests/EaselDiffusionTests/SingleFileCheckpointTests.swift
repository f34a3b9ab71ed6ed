import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Single-file checkpoints (original LDM layout) on the tiny SD 1.x and SD 2.x models: the
/// files in Fixtures/single_file were written from the diffusers folders in Fixtures/models
/// by scripts/make_single_file_fixtures.py, which checks that diffusers' own
/// `from_single_file` loads them into exactly the folders' weights. Here Easel's mapping must
/// give the same: every diffusers tensor of every component, bitwise equal, nothing left over.
@Suite struct SingleFileCheckpointTests {
    enum Variant: String, CaseIterable {
        case f16, f32, bf16
    }

    static let models = ["tiny-sd1", "tiny-sd2"]

    /// The model's single file as `variant`: the committed F16 file, or a copy converted from it.
    static func singleFile(_ model: String, _ variant: Variant, _ scratch: SingleFileScratch) throws -> URL {
        let committed = try SingleFileFixtures.singleFile(model)
        guard variant != .f16 else { return committed }
        let rewriter = try SafetensorsRewriter(copying: SafetensorsFile(url: committed), as: variant == .f32 ? .f32 : .bf16)
        let url = scratch.url("\(model)-\(variant).safetensors")
        try rewriter.write(to: url)
        return url
    }

    static func open(_ model: String, _ variant: Variant = .f16, _ scratch: SingleFileScratch,
                     familyOverride: SingleFileFamily? = nil) throws -> SingleFileCheckpoint {
        try SingleFileCheckpoint(url: singleFile(model, variant, scratch), familyOverride: familyOverride,
                                 configFolder: SingleFileFixtures.folder(model))
    }

    /// The folder's tensors of `component`, by diffusers name.
    static func folderArchive(_ model: String, _ component: SingleFileComponent) throws -> any TensorArchive {
        let directory = try SingleFileFixtures.folder(model).appendingPathComponent(component.rawValue)
        return try ComponentWeightFiles.locate(in: directory).open()
    }

    @Test(arguments: models, Variant.allCases)
    func mapsEveryTensorOfTheFolderBitwise(model: String, variant: Variant) throws {
        let scratch = try SingleFileScratch()
        let checkpoint = try Self.open(model, variant, scratch)
        #expect(checkpoint.components == [.unet, .vae, .textEncoder])
        for component in checkpoint.components {
            let folder = try Self.folderArchive(model, component)
            let weights = checkpoint.weights(for: component)
            #expect(weights.archive.names == folder.names, "\(model) \(variant) \(component): names differ")
            var mismatched: [String] = []
            for name in folder.names {
                let expected = try folder.loadTensor(name)
                // Strict loading, by the shape the folder has: what a model built from it asks.
                let got = try weights.tensor(name, shape: expected.shape)
                let want = variant == .bf16 ? expected.scalars.map(SingleFileFixtures.roundedToBFloat16) : expected.scalars
                if !zip(got.scalars, want).allSatisfy({ $0.bitPattern == $1.bitPattern }) { mismatched.append(name) }
            }
            #expect(mismatched.isEmpty, "\(model) \(variant) \(component): values differ for \(mismatched.prefix(5))")
            // Nothing mapped is left over once every folder tensor has been taken.
            try weights.checkAllConsumed()
        }
    }

    @Test(arguments: models)
    func everyTensorOfTheFileIsMappedOrSkippedOnce(model: String) throws {
        let scratch = try SingleFileScratch()
        let checkpoint = try Self.open(model, .f16, scratch)
        let file = try SafetensorsFile(url: SingleFileFixtures.singleFile(model))
        var accounted: [String] = checkpoint.skipped.map(\.name)
        for component in checkpoint.components {
            accounted += Set(checkpoint.archive(for: component).mapping.values.map(\.name))
            #expect(checkpoint.archive(for: component).unmappedBaseNames.count
                    == file.names.count - Set(checkpoint.archive(for: component).mapping.values.map(\.name)).count)
        }
        #expect(accounted.sorted() == file.names, "\(model): every tensor exactly once")
    }

    @Test func readsAnSD1TextEncoderSavedWithoutTextModel() throws {
        // Some tools save CLIPTextModel flattened: cond_stage_model.transformer.encoder...
        let scratch = try SingleFileScratch()
        var rewriter = try SafetensorsRewriter(copying: SafetensorsFile(url: SingleFileFixtures.singleFile("tiny-sd1")), as: .f32)
        for k in rewriter.entries.indices {
            rewriter.entries[k].name = rewriter.entries[k].name.replacingOccurrences(
                of: "cond_stage_model.transformer.text_model.", with: "cond_stage_model.transformer.")
        }
        let url = scratch.url("flattened.safetensors")
        try rewriter.write(to: url)
        let checkpoint = try SingleFileCheckpoint(url: url, configFolder: SingleFileFixtures.folder("tiny-sd1"))
        #expect(checkpoint.family == .sd1)
        #expect(checkpoint.archive(for: .textEncoder).names == (try Self.folderArchive("tiny-sd1", .textEncoder).names))
        #expect(checkpoint.skipped.contains(.init(name: "cond_stage_model.transformer.embeddings.position_ids", reason: .positionIDs)))
    }

    @Test func skipsTheBuffersOfAnSD1File() throws {
        let scratch = try SingleFileScratch()
        let checkpoint = try Self.open("tiny-sd1", .f16, scratch)
        let reasons = Dictionary(grouping: checkpoint.skipped, by: \.reason).mapValues { $0.map(\.name) }
        #expect(reasons[.noiseSchedule]?.sorted() == [
            "alphas_cumprod", "alphas_cumprod_prev", "betas", "log_one_minus_alphas_cumprod",
            "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "posterior_variance",
            "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        ])
        #expect(reasons[.ema]?.sorted() == [
            "model_ema.decay", "model_ema.diffusion_modelinput_blocks00weight", "model_ema.diffusion_modelout2bias",
            "model_ema.num_updates",
        ])
        #expect(reasons[.positionIDs] == ["cond_stage_model.transformer.text_model.embeddings.position_ids"])
        #expect(reasons[.unusedTextEncoderLayer] == nil && reasons[.clipProjection] == nil)
    }

    @Test func skipsOpenCLIPsLastLayerAndHeadInAnSD2File() throws {
        let scratch = try SingleFileScratch()
        let checkpoint = try Self.open("tiny-sd2", .f16, scratch)
        let reasons = Dictionary(grouping: checkpoint.skipped, by: \.reason).mapValues { $0.map(\.name) }
        // tiny-sd2's text encoder has 2 layers; the file has OpenCLIP's 3 (0, 1 and the unused 2).
        let lastLayer = try #require(reasons[.unusedTextEncoderLayer])
        #expect(lastLayer.count == 12 && lastLayer.allSatisfy { $0.hasPrefix("cond_stage_model.model.transformer.resblocks.2.") })
        #expect(reasons[.clipProjection]?.sorted() == ["cond_stage_model.model.logit_scale", "cond_stage_model.model.text_projection"])
        #expect(reasons[.noiseSchedule]?.count == 12 && reasons[.ema]?.count == 4)
        #expect(reasons[.positionIDs] == nil)
    }

    @Test(arguments: [
        "model.diffusion_model.label_emb.1.weight",                      // not SDXL's added embedding
        "model.diffusion_model.input_blocks.1.0.in_layers.1.weight",      // not a resnet parameter
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.bias",  // to_q has no bias
        "first_stage_model.encoder.mid.attn_2.q.weight",
        "first_stage_model.loss.logvar",
        "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc3.weight",
        "cond_stage_model.transformer.text_projection.weight",
        "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",  // SDXL's layout
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha",
    ])
    func anUnknownTensorIsAnErrorNamingIt(extra: String) throws {
        let scratch = try SingleFileScratch()
        var rewriter = try SafetensorsRewriter(copying: SafetensorsFile(url: SingleFileFixtures.singleFile("tiny-sd1")), as: .f32)
        rewriter.add(extra, shape: [4])
        let url = scratch.url("extra.safetensors")
        try rewriter.write(to: url)
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(url: url, configFolder: SingleFileFixtures.folder("tiny-sd1"))
        }
        guard case let .unknownTensor(name, file, _)? = error else {
            Issue.record("expected unknownTensor, got \(String(describing: error))")
            return
        }
        #expect(name == extra && file == url.path)
        #expect(error!.description.contains("'\(extra)'"))
    }

    @Test func anAddedEmbeddingTheConfigLacksIsALayoutError() throws {
        let scratch = try SingleFileScratch()
        var rewriter = try SafetensorsRewriter(copying: SafetensorsFile(url: SingleFileFixtures.singleFile("tiny-sd1")), as: .f32)
        rewriter.add("model.diffusion_model.label_emb.0.0.weight", shape: [4, 4])
        let url = scratch.url("added.safetensors")
        try rewriter.write(to: url)
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(url: url, configFolder: SingleFileFixtures.folder("tiny-sd1"))
        }
        #expect(error?.description.contains("an added embedding ('model.diffusion_model.label_emb.0.0.weight')") == true,
                "\(String(describing: error))")
    }

    @Test func anExtraOpenCLIPLayerIsALayoutErrorNamingIt() throws {
        let scratch = try SingleFileScratch()
        var rewriter = try SafetensorsRewriter(copying: SafetensorsFile(url: SingleFileFixtures.singleFile("tiny-sd2")), as: .f32)
        rewriter.add("cond_stage_model.model.transformer.resblocks.3.ln_1.weight", shape: [32])
        let url = scratch.url("extra-layer.safetensors")
        try rewriter.write(to: url)
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(url: url, configFolder: SingleFileFixtures.folder("tiny-sd2"))
        }
        #expect(error?.description.contains("resblocks.3.ln_1.weight") == true)
        #expect(error?.description.contains("num_hidden_layers 2") == true)
    }

    @Test func detectsTheFamily() throws {
        let scratch = try SingleFileScratch()
        let sd1 = try Self.open("tiny-sd1", .f16, scratch)
        #expect(sd1.family == .sd1 && sd1.detection?.family == .sd1)
        #expect(sd1.detection?.reason.contains("CLIP text encoder") == true)
        let sd2 = try Self.open("tiny-sd2", .f16, scratch)
        #expect(sd2.family == .sd2 && sd2.detection?.family == .sd2)
        #expect(sd2.detection?.reason.contains("OpenCLIP") == true)
        #expect(sd2.family.predictionType == "v_prediction" && sd1.family.predictionType == "epsilon")
    }

    @Test func theFamilyFlagOverridesDetection() throws {
        let scratch = try SingleFileScratch()
        let base = try Self.open("tiny-sd2", .f16, scratch, familyOverride: .sd2Base)
        #expect(base.family == .sd2Base && base.detection?.family == .sd2)
        #expect(base.family.predictionType == "epsilon")
        // Without a config folder the override picks the built-in configs: the family's, not
        // the detected one's (the tiny file then fails their check, naming the field).
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(url: SingleFileFixtures.singleFile("tiny-sd2"), familyOverride: .sd1)
        }
        #expect(error?.description.contains("standard SD 1.x checkpoint") == true)
        #expect(error?.description.contains("block_out_channels[0]") == true)
    }

    @Test func globalStep875000MarksTheSD2Base() throws {
        let scratch = try SingleFileScratch()
        var rewriter = try SafetensorsRewriter(copying: SafetensorsFile(url: SingleFileFixtures.singleFile("tiny-sd2")), as: .f32)
        rewriter.add("global_step", dtype: "I64", shape: [], bytes: withUnsafeBytes(of: Int64(875_000).littleEndian) { Array($0) })
        let url = scratch.url("base.safetensors")
        try rewriter.write(to: url)
        let checkpoint = try SingleFileCheckpoint(url: url, configFolder: SingleFileFixtures.folder("tiny-sd2"))
        #expect(checkpoint.family == .sd2Base)
        #expect(checkpoint.skipped.contains(SingleFileSkippedTensor(name: "global_step", reason: .trainingStep)))
    }

    @Test func configsComeFromTheConfigFolder() throws {
        let scratch = try SingleFileScratch()
        for model in Self.models {
            let checkpoint = try Self.open(model, .f16, scratch)
            let folder = try SingleFileFixtures.folder(model)
            #expect(checkpoint.configs.origin == .folder(folder))
            for component in checkpoint.components {
                let expected = try Data(contentsOf: folder.appendingPathComponent("\(component.rawValue)/config.json"))
                #expect(checkpoint.configs.config(for: component) == expected)
            }
            #expect(checkpoint.configs.scheduler
                    == (try Data(contentsOf: folder.appendingPathComponent("scheduler/scheduler_config.json"))))
            #expect(checkpoint.configs.padToken == (model == "tiny-sd1" ? "<|endoftext|>" : "!"))
        }
    }

    @Test func aConfigFolderOfAnotherLayoutIsAClearError() throws {
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(url: SingleFileFixtures.singleFile("tiny-sd2"),
                                     configFolder: SingleFileFixtures.folder("tiny-sd1"))
        }
        guard case let .layoutMismatch(component, _, detail)? = error else {
            Issue.record("expected layoutMismatch, got \(String(describing: error))")
            return
        }
        #expect(component == "unet")
        // Both have 6 input and 6 output blocks; where they resample tells them apart.
        #expect(detail.contains("downsamplers at [2, 4]") && detail.contains("downsamplers at [3]"))
        #expect(detail.contains("layers_per_block 2"))
    }

    @Test func aTruncatedFileGivesTheReadersError() throws {
        let scratch = try SingleFileScratch()
        let bytes = try Data(contentsOf: SingleFileFixtures.singleFile("tiny-sd1"))
        let url = scratch.url("truncated.safetensors")
        try bytes.prefix(bytes.count - 1000).write(to: url)
        let error = #expect(throws: SafetensorsError.self) {
            try SingleFileCheckpoint(url: url, configFolder: SingleFileFixtures.folder("tiny-sd1"))
        }
        guard case .dataPastEnd? = error?.problem else {
            Issue.record("expected dataPastEnd, got \(String(describing: error))")
            return
        }
        #expect(error?.file == url.path && error?.description.contains("truncated") == true)
    }

    @Test func aFileWithoutAVAEIsAClearError() throws {
        let scratch = try SingleFileScratch()
        var rewriter = try SafetensorsRewriter(copying: SafetensorsFile(url: SingleFileFixtures.singleFile("tiny-sd1")), as: .f32)
        rewriter.entries.removeAll { $0.name.hasPrefix("first_stage_model.") }
        let url = scratch.url("no-vae.safetensors")
        try rewriter.write(to: url)
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(url: url, configFolder: SingleFileFixtures.folder("tiny-sd1"))
        }
        #expect(error == .missingComponent(component: "vae", prefix: "first_stage_model.", file: url.path))
    }
}
