import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Strict loading: a tensor the model needs that is missing or mis-shaped, or one the
/// checkpoint has that the model never took, is an error naming it.
@Suite struct CheckpointStrictLoadingTests {
    func sampleFile(_ scratch: CheckpointScratch) throws -> URL {
        try scratch.writeF32("unet.safetensors", [
            "conv_in.weight": ([2, 1, 1, 1], [1, 2]),
            "conv_in.bias": ([2], [3, 4]),
            "down_blocks.0.norm.weight": ([3], [5, 6, 7]),
            "text_model.embeddings.position_ids": ([1, 2], [0, 1]),
        ])
    }

    @Test func loadsByNameAndShapeAndTracksUse() throws {
        let scratch = try CheckpointScratch()
        let weights = StrictWeights(try SafetensorsFile(url: sampleFile(scratch)))
        #expect(try weights.tensor("conv_in.bias", shape: [2]).scalars == [3, 4])
        #expect(weights.shape(of: "conv_in.weight") == [2, 1, 1, 1])
        #expect(weights.contains("down_blocks.0.norm.weight"))
        #expect(!weights.contains("down_blocks.0.norm.bias"))
        #expect(weights.unusedNames == ["conv_in.weight", "down_blocks.0.norm.weight", "text_model.embeddings.position_ids"])
    }

    @Test func missingTensorIsNamed() throws {
        let scratch = try CheckpointScratch()
        let url = try sampleFile(scratch)
        let weights = StrictWeights(try SafetensorsFile(url: url))
        let error = #expect(throws: CheckpointError.self) { try weights.tensor("conv_out.weight", shape: [4, 2, 3, 3]) }
        #expect(error == .missingTensor(name: "conv_out.weight", location: url.path, hint: nil))
        #expect(error?.description.contains("'conv_out.weight'") == true)
        #expect(error?.description.contains(url.path) == true)
        // A sibling under the same module is pointed out (older spellings, typos).
        let sibling = #expect(throws: CheckpointError.self) { try weights.tensor("conv_in.bais", shape: [2]) }
        #expect(sibling?.description.contains("'conv_in.bias'") == true)
        // The same name under another prefix is pointed out.
        let relocated = #expect(throws: CheckpointError.self) { try weights.tensor("embeddings.position_ids", shape: [1, 2]) }
        #expect(relocated?.description.contains("found as 'text_model.embeddings.position_ids'") == true)
    }

    @Test func wrongShapeNamesNameExpectedFoundAndFile() throws {
        let scratch = try CheckpointScratch()
        let url = try sampleFile(scratch)
        let weights = StrictWeights(try SafetensorsFile(url: url))
        let error = #expect(throws: CheckpointError.self) { try weights.tensor("conv_in.weight", shape: [2, 1, 3, 3]) }
        #expect(error == .shapeMismatch(name: "conv_in.weight", expected: [2, 1, 3, 3], found: [2, 1, 1, 1], file: url.path))
        let text = error?.description ?? ""
        #expect(text.contains("'conv_in.weight'") && text.contains("[2, 1, 3, 3]") && text.contains("[2, 1, 1, 1]") && text.contains(url.path))
        #expect(weights.unusedNames.contains("conv_in.weight"))  // a failed load does not count as use
    }

    @Test func leftoverTensorsAreReportedByName() throws {
        let scratch = try CheckpointScratch()
        let url = try sampleFile(scratch)
        let weights = StrictWeights(try SafetensorsFile(url: url))
        _ = try weights.tensor("conv_in.weight", shape: [2, 1, 1, 1])
        _ = try weights.tensor("conv_in.bias", shape: [2])
        let error = #expect(throws: CheckpointError.self) { try weights.checkAllConsumed() }
        #expect(error == .unusedTensors(names: ["down_blocks.0.norm.weight", "text_model.embeddings.position_ids"], location: url.path))
        #expect(error?.description.contains("'down_blocks.0.norm.weight'") == true)
        // Buffers the models rebuild are allowed by the hook; the real leftover still is not.
        let stillUnused = #expect(throws: CheckpointError.self) { try weights.checkAllConsumed(allowing: .buffers) }
        #expect(stillUnused == .unusedTensors(names: ["down_blocks.0.norm.weight"], location: url.path))
        _ = try weights.tensor("down_blocks.0.norm.weight", shape: [3])
        try weights.checkAllConsumed(allowing: .buffers)
        weights.markUsed("text_model.embeddings.position_ids")
        try weights.checkAllConsumed()
    }

    @Test func allowanceCombinators() {
        let allowance = UnusedTensorAllowance.names(["a.b"]).union(.prefixes(["ema."])).union(.buffers)
        #expect(allowance.allows("a.b"))
        #expect(allowance.allows("ema.x.weight"))
        #expect(allowance.allows("text_model.embeddings.position_ids"))
        #expect(!allowance.allows("embeddings.not_position_ids"))
        #expect(!UnusedTensorAllowance.none.allows("a.b"))
    }

    @Test func scopedViewsUseRelativeNamesAndReportFullNames() throws {
        let weights = StrictWeights(tensors: [
            "down_blocks.0.resnets.1.conv1.weight": Tensor(shape: [1], scalars: [7]),
        ])
        let block = weights.scoped("down_blocks.0.")
        let resnet = block.scoped("resnets.1.")
        #expect(resnet.prefix == "down_blocks.0.resnets.1.")
        #expect(try resnet.tensor("conv1.weight", shape: [1]).scalars == [7])
        #expect(resnet.shape(of: "conv1.weight") == [1])
        let error = #expect(throws: CheckpointError.self) { try resnet.tensor("conv2.weight", shape: [1]) }
        #expect(error?.description.contains("'down_blocks.0.resnets.1.conv2.weight'") == true)
        try weights.checkAllConsumed()
        #expect(try resnet.tensorIfPresent("conv2.weight", shape: [1]) == nil)
    }

    /// CLIP's text encoder is published as `text_model.encoder...` and saved by current
    /// transformers as `encoder...`; the model finds whichever is there.
    @Test func alternativePrefixes() throws {
        let probe = "embeddings.token_embedding.weight"
        let published = StrictWeights(tensors: ["text_model.\(probe)": Tensor(zeros: [4, 2])])
        let current = StrictWeights(tensors: [probe: Tensor(zeros: [4, 2])])
        #expect(try published.scoped(firstOf: ["text_model.", ""], containing: probe).prefix == "text_model.")
        #expect(try current.scoped(firstOf: ["text_model.", ""], containing: probe).prefix == "")
        let error = #expect(throws: CheckpointError.self) {
            try StrictWeights(tensors: [:], location: "te").scoped(firstOf: ["text_model.", ""], containing: probe)
        }
        #expect(error == .noMatchingPrefix(probe: probe, prefixes: ["text_model.", ""], location: "te"))
        #expect(error?.description.contains("'text_model.\(probe)'") == true)
    }

    @Test func integerBufferRequestedAsWeightIsAnErrorNamingIt() throws {
        let scratch = try CheckpointScratch()
        let url = try scratch.writeSafetensors("ids.safetensors", header: [.init("position_ids", "I64", [1, 2], 0, 16)],
                                               data: [UInt8](repeating: 0, count: 16))
        let weights = StrictWeights(try SafetensorsFile(url: url))
        let error = #expect(throws: SafetensorsError.self) { try weights.tensor("position_ids", shape: [1, 2]) }
        #expect(error?.description.contains("'position_ids'") == true)
        #expect(error?.description.contains("I64") == true)
    }

    /// The seam for single-file checkpoints: original key names exposed under diffusers'
    /// names, with an optional transform, and the base keys no mapping uses listed.
    @Test func renamedArchiveMapsNamesAndTransforms() throws {
        let base = InMemoryArchive([
            "model.diffusion_model.input_blocks.0.0.weight": Tensor(shape: [2, 1, 1, 1], scalars: [1, 2]),
            "first_stage_model.decoder.mid.attn_1.q.weight": Tensor(shape: [2, 2, 1, 1], scalars: [1, 2, 3, 4]),
            "model_ema.decay": Tensor(shape: [], scalars: [0.999]),
        ], location: "sd15.safetensors")
        let archive = RenamedArchive(base: base, mapping: [
            "conv_in.weight": .init("model.diffusion_model.input_blocks.0.0.weight"),
            "mid_block.attentions.0.to_q.weight": .init(
                "first_stage_model.decoder.mid.attn_1.q.weight", shape: [2, 2], transform: { $0.reshaped([2, 2]) }),
        ])
        #expect(archive.unmappedBaseNames == ["model_ema.decay"])
        #expect(archive.info("mid_block.attentions.0.to_q.weight")?.shape == [2, 2])
        let weights = StrictWeights(archive)
        #expect(try weights.tensor("conv_in.weight", shape: [2, 1, 1, 1]).scalars == [1, 2])
        #expect(try weights.tensor("mid_block.attentions.0.to_q.weight", shape: [2, 2]).scalars == [1, 2, 3, 4])
        try weights.checkAllConsumed()
        // A transform that disagrees with its declared shape is caught, not passed on.
        let broken = StrictWeights(RenamedArchive(base: base, mapping: [
            "w": .init("model_ema.decay", shape: [1], transform: { $0 }),
        ]))
        let error = #expect(throws: CheckpointError.self) { try broken.tensor("w", shape: [1]) }
        #expect(error == .shapeMismatch(name: "w", expected: [1], found: [], file: "sd15.safetensors"))
    }

    @Test func concurrentLoadsAreTrackedExactly() throws {
        var tensors: [String: Tensor] = [:]
        for i in 0..<200 { tensors["layer.\(i).weight"] = Tensor(repeating: Float(i), shape: [3]) }
        let weights = StrictWeights(tensors: tensors)
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            let t = try? weights.tensor("layer.\(i).weight", shape: [3])
            precondition(t?.scalars == [Float(i), Float(i), Float(i)])
        }
        try weights.checkAllConsumed()
    }
}
