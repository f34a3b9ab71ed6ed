import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The full-size layouts: SD 1.5, SD 2.1 and SDXL base single files as names and shapes only
/// (Fixtures/single_file/layout-*.json, whose diffusers side scripts/make_single_file_fixtures.py
/// produced with diffusers' own forward converters and checked against the models' state
/// dicts). With the built-in configs and no config folder, as a real download is opened.
@Suite struct SingleFileLayoutTests {
    static let families = ["sd1", "sd2", "sdxl"]

    static func checkpoint(_ family: String, adding extra: [String: [Int]] = [:]) throws
        -> (SingleFileCheckpoint, SingleFileLayoutFixture) {
        let layout = try SingleFileFixtures.layout(family)
        let archive = ShapeOnlyArchive(layout, location: "layout-\(family)", adding: extra)
        return (try SingleFileCheckpoint(archive: archive), layout)
    }

    @Test(arguments: families)
    func mapsAFullSizeFileOntoDiffusersNamesAndShapes(family: String) throws {
        let (checkpoint, layout) = try Self.checkpoint(family)
        #expect(checkpoint.family.rawValue == family)
        #expect(checkpoint.configs.origin == .builtIn(checkpoint.family))
        #expect(checkpoint.components.map(\.rawValue).sorted() == layout.diffusers.keys.sorted())
        for component in checkpoint.components {
            let archive = checkpoint.archive(for: component)
            let expected = try #require(layout.diffusers[component.rawValue])
            #expect(archive.names == expected.keys.sorted(), "\(family) \(component): names differ")
            let misshaped = expected.filter { archive.info($0.key)?.shape != $0.value }.keys.sorted()
            #expect(misshaped.isEmpty, "\(family) \(component): shapes differ for \(misshaped.prefix(5))")
        }
        let mapped = checkpoint.components.reduce(into: Set<String>()) {
            $0.formUnion(checkpoint.archive(for: $1).mapping.values.map(\.name))
        }
        #expect((mapped.union(checkpoint.skipped.map(\.name))).count == layout.ldm.count)
    }

    @Test func sd2SkipsOpenCLIPsTwentyFourthLayer() throws {
        let (checkpoint, _) = try Self.checkpoint("sd2")
        let unused = checkpoint.skipped.filter { $0.reason == .unusedTextEncoderLayer }.map(\.name)
        #expect(unused.count == 12)
        #expect(unused.allSatisfy { $0.hasPrefix("cond_stage_model.model.transformer.resblocks.23.") })
        let textNames = checkpoint.archive(for: .textEncoder).names
        #expect(textNames.contains("encoder.layers.22.self_attn.v_proj.weight"))
        #expect(!textNames.contains { $0.hasPrefix("encoder.layers.23.") })
        // The fused projection [3072, 1024] splits into three [1024, 1024].
        #expect(checkpoint.archive(for: .textEncoder).info("encoder.layers.0.self_attn.k_proj.weight")?.shape == [1024, 1024])
        #expect(checkpoint.archive(for: .vae).info("decoder.mid_block.attentions.0.to_q.weight")?.shape == [512, 512])
    }

    @Test(arguments: families)
    func builtInConfigsAreThePublishedOnes(family: String) throws {
        let (checkpoint, layout) = try Self.checkpoint(family)
        let configs = checkpoint.configs
        for (component, data) in [("unet", configs.unet), ("vae", configs.vae),
                                  ("text_encoder", configs.textEncoder), ("text_encoder_2", configs.textEncoder2),
                                  ("scheduler", configs.scheduler)] {
            #expect(try data.map(JSONObjectValue.parse) == layout.configs[component], "\(family) \(component)")
        }
        #expect(configs.padToken == (family == "sd2" ? "!" : "<|endoftext|>"))
        #expect(configs.padToken2 == (family == "sdxl" ? "!" : nil))
        #expect(configs.forceZerosForEmptyPrompt == (family == "sdxl"))
    }

    /// The models and the scheduler decode the built-in configs like a folder's.
    @Test(arguments: SingleFileFamily.allCases.filter { $0 != .sdxl })
    func builtInConfigsDecodeIntoTheModelsConfigs(family: SingleFileFamily) throws {
        let configs = SingleFileConfigs.builtIn(family)
        let unet = try ConfigFile.decode(UNet2DConditionConfig.self, from: configs.unet, path: "unet/config.json")
        #expect(unet.blockOutChannels == [320, 640, 1280, 1280])
        #expect(unet.crossAttentionDim.allSatisfy { $0 == (family == .sd1 ? 768 : 1024) })
        #expect(unet.numAttentionHeads == (family == .sd1 ? [8, 8, 8, 8] : [5, 10, 20, 20]))
        #expect(unet.useLinearProjection == (family != .sd1))
        #expect(unet.upcastAttention == (family == .sd2))
        #expect(unet.sampleSize == (family == .sd2 ? 96 : 64))
        let text = try ConfigFile.decode(CLIPTextConfig.self, from: configs.textEncoder, path: "text_encoder/config.json")
        #expect(text.hiddenSize == (family == .sd1 ? 768 : 1024))
        #expect(text.numHiddenLayers == (family == .sd1 ? 12 : 23))
        #expect(text.hiddenAct == (family == .sd1 ? .quickGELU : .gelu))
        let scheduler = try SchedulerConfiguration.decode(configs.scheduler)
        #expect(scheduler.className == (family == .sd2 ? "DDIMScheduler" : "PNDMScheduler"))
        #expect(scheduler.predictionType == family.predictionType)
    }

    @Test func detectsTheFamilyFromTheUNetAloneAsDiffusersDoes() throws {
        for (family, width) in [("sd1", 768), ("sd2", 1024)] {
            let layout = try SingleFileFixtures.layout(family)
            let entries = layout.ldm.filter { !$0.key.hasPrefix("cond_stage_model.") }.reduce(into: [String: ArchivedTensorInfo]()) {
                $0[$1.key] = ArchivedTensorInfo(name: $1.key, dtype: .f16, shape: $1.value.shape, file: "x")
            }
            let archive = ShapeOnlyArchive(entries: entries, location: "unet-only")
            let detection = try SingleFileFamilyDetector.detect(archive, globalStep: nil)
            #expect(detection.family.rawValue == family)
            #expect(detection.reason.contains("cross-attention width \(width)"))
            // Detected, but a file without its text encoder cannot be loaded.
            #expect(throws: SingleFileError.missingComponent(component: "text_encoder", prefix: "cond_stage_model.", file: "unet-only")) {
                try SingleFileCheckpoint(archive: archive)
            }
        }
    }

    @Test func aFamilyThatCannotBeToldNeedsTheFlag() throws {
        let archive = ShapeOnlyArchive(entries: [:], location: "empty")
        #expect(throws: SingleFileError.unknownFamily(file: "empty", reason: "no text encoder and no UNet cross-attention keys")) {
            try SingleFileFamilyDetector.detect(archive, globalStep: nil)
        }
        // With the flag, detection is not needed (and the empty file then lacks its UNet).
        #expect(throws: SingleFileError.missingComponent(component: "unet", prefix: "model.diffusion_model.", file: "empty")) {
            try SingleFileCheckpoint(archive: archive, familyOverride: .sd1)
        }
    }

    @Test func anInpaintingFileIsNotTakenForTextToImage() throws {
        // SD 1.5 inpainting: conv_in takes 9 channels (latents, mask, masked image).
        let layout = try SingleFileFixtures.layout("sd1")
        var entries = ShapeOnlyArchive(layout, location: "inpainting").entries
        entries["model.diffusion_model.input_blocks.0.0.weight"]?.shape = [320, 9, 3, 3]
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(archive: ShapeOnlyArchive(entries: entries, location: "inpainting"))
        }
        #expect(error?.description.contains("'in_channels' is 4") == true)
    }

    @Test func theSD2BaseFlagPicksTheBaseConfigs() throws {
        let layout = try SingleFileFixtures.layout("sd2")
        let checkpoint = try SingleFileCheckpoint(archive: ShapeOnlyArchive(layout, location: "sd2"), familyOverride: .sd2Base)
        #expect(checkpoint.family == .sd2Base && checkpoint.detection?.family == .sd2)
        #expect(checkpoint.configs == .builtIn(.sd2Base))
        let scheduler = try SchedulerConfiguration.decode(checkpoint.configs.scheduler)
        #expect(scheduler.className == "PNDMScheduler" && scheduler.predictionType == "epsilon")
        let unet = try ConfigFile.decode(UNet2DConditionConfig.self, from: checkpoint.configs.unet, path: "unet")
        #expect(unet.sampleSize == 64 && !unet.upcastAttention)
    }

    @Test func sdxlBuiltInConfigsDecodeIntoTheModelsConfigs() throws {
        let configs = SingleFileConfigs.builtIn(.sdxl)
        let unet = try ConfigFile.decode(UNet2DConditionConfig.self, from: configs.unet, path: "unet/config.json")
        #expect(unet.blockOutChannels == [320, 640, 1280])
        #expect(unet.crossAttentionDim.allSatisfy { $0 == 2048 })
        #expect(unet.transformerLayersPerBlock == [1, 2, 10])
        #expect(unet.addition == UNet2DConditionConfig.TextTimeAddition(timeEmbedDim: 256, inputDim: 2816))
        #expect(unet.sampleSize == 128 && !unet.upcastAttention)
        let vae = try ConfigFile.decode(AutoencoderKLConfig.self, from: configs.vae, path: "vae/config.json")
        #expect(vae.scalingFactor == 0.13025)
        let text = try ConfigFile.decode(CLIPTextConfig.self, from: configs.textEncoder, path: "text_encoder/config.json")
        #expect(text.hiddenSize == 768 && text.numHiddenLayers == 12 && text.hiddenAct == .quickGELU)
        let text2 = try ConfigFile.decode(CLIPTextConfig.self, from: try #require(configs.textEncoder2), path: "text_encoder_2")
        #expect(text2.hiddenSize == 1280 && text2.numHiddenLayers == 32 && text2.projectionDim == 1280 && text2.hiddenAct == .gelu)
        let scheduler = try SchedulerConfiguration.decode(configs.scheduler)
        #expect(scheduler.className == "EulerDiscreteScheduler" && scheduler.predictionType == "epsilon")
    }

    /// SGM's OpenCLIP: every one of its 32 layers is used, its fused projections split, and
    /// `text_projection` [1280, 1280] becomes the model's projection weight (transposed).
    @Test func sdxlMapsBothTextEncodersAndTheAddedEmbedding() throws {
        let (checkpoint, _) = try Self.checkpoint("sdxl")
        #expect(checkpoint.family == .sdxl && checkpoint.components == [.unet, .vae, .textEncoder, .textEncoder2])
        let text2 = checkpoint.archive(for: .textEncoder2)
        #expect(text2.names.contains("encoder.layers.31.self_attn.v_proj.weight"))
        #expect(text2.info("encoder.layers.0.self_attn.q_proj.weight")?.shape == [1280, 1280])
        #expect(text2.mapping["text_projection.weight"]?.name == "conditioner.embedders.1.model.text_projection")
        #expect(checkpoint.skipped.map(\.name).contains("conditioner.embedders.1.model.logit_scale"))
        #expect(checkpoint.archive(for: .textEncoder).info("embeddings.token_embedding.weight")?.shape == [49408, 768])
        let unet = checkpoint.archive(for: .unet)
        #expect(unet.mapping["add_embedding.linear_1.weight"]?.name == "model.diffusion_model.label_emb.0.0.weight")
        #expect(unet.info("down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k.weight")?.shape == [1280, 2048])
    }

    /// A layout's names, with some left out or renamed.
    static func sdxlEntries(removing prefixes: [String] = [], renaming: (String) -> String = { $0 })
        throws -> [String: ArchivedTensorInfo] {
        let layout = try SingleFileFixtures.layout("sdxl")
        var entries: [String: ArchivedTensorInfo] = [:]
        for (name, entry) in layout.ldm where !prefixes.contains(where: name.hasPrefix) {
            let renamed = renaming(name)
            entries[renamed] = ArchivedTensorInfo(name: renamed, dtype: .f16, shape: entry.shape, file: "x")
        }
        return entries
    }

    @Test func anSDXLFileMissingAnEncoderSaysWhich() throws {
        for (prefix, component) in [("conditioner.embedders.1.", "text_encoder_2"), ("conditioner.embedders.0.", "text_encoder")] {
            let archive = ShapeOnlyArchive(entries: try Self.sdxlEntries(removing: [prefix]), location: "one-encoder")
            let missing = component == "text_encoder" ? "conditioner.embedders.0.transformer." : "conditioner.embedders.1.model."
            #expect(throws: SingleFileError.missingComponent(component: component, prefix: missing, file: "one-encoder")) {
                try SingleFileCheckpoint(archive: archive, familyOverride: .sdxl)
            }
        }
        // Without its second encoder, an SDXL file is not taken for another family either.
        let unetAndFirst = ShapeOnlyArchive(entries: try Self.sdxlEntries(removing: ["conditioner.embedders.1."]), location: "u")
        #expect(throws: SingleFileError.missingComponent(component: "text_encoder_2", prefix: "conditioner.embedders.1.model.",
                                                         file: "u")) {
            try SingleFileCheckpoint(archive: unetAndFirst)
        }
        // A UNet alone is told SDXL by its added embedding and 2048-wide cross-attention.
        let unetOnly = ShapeOnlyArchive(entries: try Self.sdxlEntries(removing: ["conditioner."]), location: "unet-only")
        let detection = try SingleFileFamilyDetector.detect(unetOnly, globalStep: nil)
        #expect(detection.family == .sdxl && detection.reason.contains("2048"))
    }

    @Test func anSDXLRefinerIsRefusedByName() throws {
        // The refiner has OpenCLIP bigG as its only (first) embedder and 1280-wide cross-attention.
        let refiner = ShapeOnlyArchive(entries: try Self.sdxlEntries(removing: ["conditioner.embedders.0."]) {
            $0.replacingOccurrences(of: "conditioner.embedders.1.", with: "conditioner.embedders.0.")
        }, location: "refiner")
        let error = #expect(throws: SingleFileError.self) { try SingleFileCheckpoint(archive: refiner) }
        guard case .sdxlRefiner? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(error?.description.contains("SDXL refiner") == true)
    }

    @Test func ldmAndSGMTextEncodersDoNotMix() throws {
        var entries = try Self.sdxlEntries()
        let name = "cond_stage_model.transformer.text_model.final_layer_norm.weight"
        entries[name] = ArchivedTensorInfo(name: name, dtype: .f16, shape: [768], file: "x")
        let error = #expect(throws: SingleFileError.self) {
            try SingleFileCheckpoint(archive: ShapeOnlyArchive(entries: entries, location: "mixed"))
        }
        #expect(error?.description.contains("both LDM's") == true)
    }
}
