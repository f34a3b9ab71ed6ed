import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The diffusers folder layout, on a tiny pipeline saved by diffusers and transformers
/// themselves (Fixtures/checkpoint/tiny-pipeline, made by scripts/make_checkpoint_fixtures.py):
/// a sharded F32 UNet, an fp16-variant-only text encoder, and deliberate gaps.
@Suite struct CheckpointFolderTests {
    struct Described: Decodable {
        let shape: [Int]
        let sum: Double
        let first: [Float]
    }

    static func fixtureFolder() throws -> URL {
        let index = try #require(Bundle.module.url(
            forResource: "model_index", withExtension: "json", subdirectory: "Fixtures/checkpoint/tiny-pipeline"))
        return index.deletingLastPathComponent()
    }

    static func expected() throws -> [String: [String: Described]] {
        let url = try #require(Bundle.module.url(forResource: "tiny-pipeline", withExtension: "json", subdirectory: "Fixtures/checkpoint"))
        return try JSONDecoder().decode([String: [String: Described]].self, from: Data(contentsOf: url))
    }

    /// A writable copy of the fixture pipeline to break in one way.
    static func copyOfFixture(_ scratch: CheckpointScratch) throws -> URL {
        let copy = scratch.directory.appendingPathComponent("pipeline")
        try FileManager.default.copyItem(at: fixtureFolder(), to: copy)
        return copy
    }

    @Test func readsModelIndex() throws {
        let folder = try DiffusersFolder(url: Self.fixtureFolder())
        #expect(folder.pipelineClass == "StableDiffusionPipeline")
        #expect(folder.components["unet"] == .init(library: "diffusers", className: "UNet2DConditionModel"))
        #expect(folder.components["safety_checker"] == .init(library: nil, className: nil))
        #expect(folder.components["requires_safety_checker"] == nil)
        #expect(folder.components["_diffusers_version"] == nil)
    }

    /// Every tensor of both components matches the reference loader: shape, first values
    /// (exactly: F32 copied, F16 widened exactly) and the sum (to float rounding).
    @Test func loadsEveryTensorLikeTheReference() throws {
        let folder = try DiffusersFolder(url: Self.fixtureFolder())
        for (componentName, tensors) in try Self.expected() {
            let component = try folder.component(componentName)
            let weights = try component.weights()
            #expect(weights.archive.names == tensors.keys.sorted(), "\(componentName)")
            for (name, reference) in tensors {
                let tensor = try weights.tensor(name, shape: reference.shape)
                let values = tensor.scalars
                #expect(Array(values.prefix(4)) == reference.first, "\(componentName)/\(name)")
                let sum = values.reduce(0.0) { $0 + Double($1) }
                #expect(abs(sum - reference.sum) <= 1e-9 * max(1, values.map { abs(Double($0)) }.reduce(0, +)), "\(name)")
            }
            try weights.checkAllConsumed()
        }
    }

    @Test func locatesShardedAndVariantWeights() throws {
        let folder = try DiffusersFolder(url: Self.fixtureFolder())
        let unet = try folder.component("unet")
        guard case let .sharded(index) = try unet.weightFiles() else { Issue.record("unet not sharded"); return }
        #expect(index.lastPathComponent == "diffusion_pytorch_model.safetensors.index.json")
        let archive = try #require(try unet.weightFiles().open() as? ShardedSafetensors)
        #expect(archive.shards.count == 6)
        #expect(try folder.component("text_encoder").weightFiles()
            == .single(folder.url.appendingPathComponent("text_encoder/model.fp16.safetensors")))
        #expect(try folder.component("text_encoder").weightFiles(variant: "fp16")
            == .single(folder.url.appendingPathComponent("text_encoder/model.fp16.safetensors")))
        let missing = #expect(throws: CheckpointError.self) { try folder.component("unet").weightFiles(variant: "fp16") }
        #expect(missing?.description.contains("'fp16'") == true)
    }

    @Test func componentErrorsNameThePath() throws {
        let folder = try DiffusersFolder(url: Self.fixtureFolder())
        let vae = #expect(throws: CheckpointError.self) { try folder.component("vae") }
        #expect(vae == .missingComponentFolder(name: "vae", path: folder.url.appendingPathComponent("vae").path))
        #expect(vae?.description.contains("/vae") == true)
        let absent = #expect(throws: CheckpointError.self) { try folder.component("safety_checker") }
        if case .componentAbsent = absent {} else { Issue.record("\(String(describing: absent))") }
        let unlisted = #expect(throws: CheckpointError.self) { try folder.component("image_encoder") }
        #expect(unlisted?.description.contains("model_index.json") == true)
    }

    @Test func missingModelIndexOrConfig() throws {
        let scratch = try CheckpointScratch()
        let notAModel = #expect(throws: CheckpointError.self) { try DiffusersFolder(url: scratch.directory) }
        #expect(notAModel?.description.contains("model_index.json") == true)
        let copy = try Self.copyOfFixture(scratch)
        try FileManager.default.removeItem(at: copy.appendingPathComponent("unet/config.json"))
        struct AnyConfig: Decodable {}
        let error = #expect(throws: CheckpointError.self) {
            try DiffusersFolder(url: copy).component("unet").config(AnyConfig.self)
        }
        #expect(error == .missingFile(path: copy.appendingPathComponent("unet/config.json").path, what: "config.json"))
        try Data("{\"unet\": [\"diffusers\",".utf8).write(to: copy.appendingPathComponent("model_index.json"))
        let badIndex = #expect(throws: CheckpointError.self) { try DiffusersFolder(url: copy) }
        if case .invalidJSON = badIndex {} else { Issue.record("\(String(describing: badIndex))") }
    }

    @Test func weightFileChoices() throws {
        let scratch = try CheckpointScratch()
        let dir = scratch.directory
        let none = #expect(throws: CheckpointError.self) { try ComponentWeightFiles.locate(in: dir) }
        #expect(none?.description.contains("no weights file") == true)
        #expect(none?.description.contains(dir.path) == true)

        try scratch.write("pytorch_model.bin", [0x80, 0x02])
        let pickle = #expect(throws: CheckpointError.self) { try ComponentWeightFiles.locate(in: dir) }
        #expect(pickle == .pickleWeightsUnsupported(path: dir.appendingPathComponent("pytorch_model.bin").path))
        #expect(pickle?.description.contains("not supported") == true)

        try scratch.writeF32("diffusion_pytorch_model.ema.safetensors", ["w": ([1], [1])])
        try scratch.writeF32("diffusion_pytorch_model.non_ema.safetensors", ["w": ([1], [2])])
        let ambiguous = #expect(throws: CheckpointError.self) { try ComponentWeightFiles.locate(in: dir) }
        #expect(ambiguous == .ambiguousVariants(directory: dir.path, variants: ["ema", "non_ema"]))
        #expect(try ComponentWeightFiles.locate(in: dir, variant: "ema")
            == .single(dir.appendingPathComponent("diffusion_pytorch_model.ema.safetensors")))

        try scratch.writeF32("diffusion_pytorch_model.fp16.safetensors", ["w": ([1], [3])])
        #expect(try ComponentWeightFiles.locate(in: dir)
            == .single(dir.appendingPathComponent("diffusion_pytorch_model.fp16.safetensors")))

        try scratch.writeF32("diffusion_pytorch_model.safetensors", ["w": ([1], [4])])
        #expect(try ComponentWeightFiles.locate(in: dir)
            == .single(dir.appendingPathComponent("diffusion_pytorch_model.safetensors")))
        let plain = try DiffusersComponent(name: "unet", directory: dir).weights()
        #expect(try plain.tensor("w", shape: [1]).scalars == [4])
    }

    @Test func shardedIndexMustAgreeWithShards() throws {
        let scratch = try CheckpointScratch()
        let dir = scratch.directory
        try scratch.writeF32("s1.safetensors", ["a": ([1], [1]), "b": ([1], [2])])
        try scratch.writeF32("s2.safetensors", ["c": ([2], [3, 4])])
        func index(_ map: String) throws -> URL {
            try scratch.write("model.safetensors.index.json", Array("{\"metadata\":{},\"weight_map\":{\(map)}}".utf8))
        }
        let good = try ShardedSafetensors(indexURL: index("\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\",\"c\":\"s2.safetensors\""))
        #expect(good.names == ["a", "b", "c"])
        #expect(good.info("c")?.file == dir.appendingPathComponent("s2.safetensors").path)
        #expect(try good.loadTensor("c").scalars == [3, 4])

        let wrongShard = #expect(throws: CheckpointError.self) {
            try ShardedSafetensors(indexURL: index("\"a\":\"s2.safetensors\",\"b\":\"s1.safetensors\",\"c\":\"s2.safetensors\""))
        }
        #expect(wrongShard?.description.contains("'a'") == true)
        let unlisted = #expect(throws: CheckpointError.self) {
            try ShardedSafetensors(indexURL: index("\"a\":\"s1.safetensors\",\"c\":\"s2.safetensors\""))
        }
        #expect(unlisted?.description.contains("'b'") == true)
        let missingShard = #expect(throws: CheckpointError.self) {
            try ShardedSafetensors(indexURL: index("\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\",\"c\":\"s3.safetensors\""))
        }
        #expect(missingShard?.description.contains("s3.safetensors") == true)
        let traversal = #expect(throws: CheckpointError.self) {
            try ShardedSafetensors(indexURL: index("\"a\":\"../s1.safetensors\""))
        }
        if case .invalidIndex = traversal {} else { Issue.record("\(String(describing: traversal))") }
        let noMap = #expect(throws: CheckpointError.self) { try ShardedSafetensors(indexURL: index("").deletingLastPathComponent().appendingPathComponent("x.json")) }
        if case .missingFile = noMap {} else { Issue.record("\(String(describing: noMap))") }

        // Every shard is validated on open: a corrupt one is named even if no tensor is read.
        let shard = dir.appendingPathComponent("s2.safetensors")
        let bytes = try Data(contentsOf: shard)
        try bytes.prefix(bytes.count - 2).write(to: shard)
        let corrupt = #expect(throws: SafetensorsError.self) {
            try ShardedSafetensors(indexURL: index("\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\",\"c\":\"s2.safetensors\""))
        }
        #expect(corrupt?.file == shard.path)
        #expect(corrupt?.tensor == "c")
    }

    /// VAE folders saved before diffusers 0.14 name attention `query/key/value/proj_attn`;
    /// they load under the current names, as diffusers loads them.
    @Test func deprecatedAttentionNamesLoadUnderCurrentNames() throws {
        let scratch = try CheckpointScratch()
        let block = "decoder.mid_block.attentions.0"
        var tensors: [String: ([Int], [Float])] = ["\(block).group_norm.weight": ([2], [1, 1])]
        for (i, old) in ["query", "key", "value", "proj_attn"].enumerated() {
            tensors["\(block).\(old).weight"] = ([2, 2], [Float(i), 0, 0, 1])
            tensors["\(block).\(old).bias"] = ([2], [Float(i), 0])
        }
        tensors["decoder.conv_in.query.weight"] = ([1], [5])  // not an attention block: untouched
        try scratch.writeF32("vae/diffusion_pytorch_model.safetensors", tensors)
        let weights = try DiffusersComponent(name: "vae", directory: scratch.directory.appendingPathComponent("vae")).weights()
        for (i, new) in ["to_q", "to_k", "to_v", "to_out.0"].enumerated() {
            #expect(try weights.tensor("\(block).\(new).weight", shape: [2, 2]).scalars == [Float(i), 0, 0, 1])
            #expect(try weights.tensor("\(block).\(new).bias", shape: [2]).scalars == [Float(i), 0])
        }
        #expect(!weights.contains("\(block).query.weight"))
        _ = try weights.tensor("\(block).group_norm.weight", shape: [2])
        #expect(weights.unusedNames == ["decoder.conv_in.query.weight"])
    }

    @Test func brokenFixtureCopyErrorsNameTheShard() throws {
        let scratch = try CheckpointScratch()
        let copy = try Self.copyOfFixture(scratch)
        let shard = copy.appendingPathComponent("unet/diffusion_pytorch_model-00003-of-00006.safetensors")
        try FileManager.default.removeItem(at: shard)
        let error = #expect(throws: CheckpointError.self) { try DiffusersFolder(url: copy).component("unet").weights() }
        #expect(error?.description.contains(shard.path) == true)
    }
}
