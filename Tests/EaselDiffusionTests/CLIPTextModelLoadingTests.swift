import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion
import EaselTestSupport

/// Strict loading, configuration errors and input checks of `CLIPTextModel`, on the tiny
/// fixture model's weights.
@Suite("CLIPTextModel loading and input checks")
struct CLIPTextModelLoadingTests {
    /// The tiny model's config and tensors (names `embeddings...`, `encoder.layers.N...`).
    static func tiny() throws -> (CLIPTextConfig, [String: Tensor]) {
        let directory = try CLIPTextFixture.url("tiny")
        let config = try CLIPTextConfig.load(from: directory.appendingPathComponent("config.json"))
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(name) }
        return (config, tensors)
    }

    static let ids: [[Int]] = [
        [998, 5, 17, 400, 999] + Array(repeating: 999, count: 72),
        [998] + Array(100..<175) + [999],
    ]

    @Test("a missing tensor is an error naming it")
    func missingTensor() throws {
        var (config, tensors) = try Self.tiny()
        tensors["encoder.layers.1.mlp.fc2.bias"] = nil
        let error = #expect(throws: CheckpointError.self) {
            try CLIPTextModel(config: config, weights: StrictWeights(tensors: tensors, location: "tiny.safetensors"))
        }
        guard case let .missingTensor(name, location, _) = error else {
            Issue.record("expected missingTensor, got \(String(describing: error))")
            return
        }
        #expect(name == "encoder.layers.1.mlp.fc2.bias" && location == "tiny.safetensors")
        #expect(error?.description.contains("'encoder.layers.1.mlp.fc2.bias'") == true)
    }

    @Test("a wrongly shaped tensor is an error naming it and both shapes")
    func wrongShape() throws {
        var (config, tensors) = try Self.tiny()
        tensors["encoder.layers.2.self_attn.q_proj.weight"] = Tensor(zeros: [32, 31])
        #expect(throws: CheckpointError.shapeMismatch(
            name: "encoder.layers.2.self_attn.q_proj.weight", expected: [32, 32], found: [32, 31], file: "<memory>")) {
            try CLIPTextModel(config: config, weights: StrictWeights(tensors: tensors))
        }
        // A projection that does not match `projection_dim` is caught the same way.
        (config, tensors) = try Self.tiny()
        tensors["text_projection.weight"] = Tensor(zeros: [23, 32])
        #expect(throws: CheckpointError.shapeMismatch(
            name: "text_projection.weight", expected: [24, 32], found: [23, 32], file: "<memory>")) {
            try CLIPTextModel(config: config, weights: StrictWeights(tensors: tensors))
        }
    }

    @Test("a config with fewer layers than the checkpoint leaves tensors unused, and that is an error")
    func leftoverTensors() throws {
        var (config, tensors) = try Self.tiny()
        config.numHiddenLayers = 2
        let weights = StrictWeights(tensors: tensors)
        _ = try CLIPTextModel(config: config, weights: weights)
        let error = #expect(throws: CheckpointError.self) { try weights.checkAllConsumed(allowing: .buffers) }
        guard case let .unusedTensors(names, _) = error else {
            Issue.record("expected unusedTensors, got \(String(describing: error))")
            return
        }
        #expect(names.count == 16 && names.allSatisfy { $0.hasPrefix("encoder.layers.2.") })
        // Weights under neither name form: the error says which names were looked for.
        tensors = [:]
        #expect(throws: CheckpointError.noMatchingPrefix(
            probe: "embeddings.token_embedding.weight", prefixes: ["text_model.", ""], location: "<memory>")) {
            try CLIPTextModel(config: config, weights: StrictWeights(tensors: tensors))
        }
    }

    @Test("published names (text_model.*) with an int64 position_ids buffer load from a folder; the buffer is never read")
    func publishedLayoutFromFolder() throws {
        let (_, tensors) = try Self.tiny()
        let folder = try TestScratch.folder("clip")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: CLIPTextFixture.url("tiny").appendingPathComponent("config.json"),
            to: folder.appendingPathComponent("config.json"))
        var entries = tensors.map { TestSafetensors.Entry(name: "text_model." + $0.key, tensor: $0.value) }
        entries.append(.init(name: "text_model.embeddings.position_ids", int64: Array(0..<77), shape: [1, 77]))
        try TestSafetensors.write(entries, to: folder.appendingPathComponent("model.safetensors"))

        let model = try CLIPTextModel.load(from: folder)
        #expect(model.weightPrefix == "text_model." && !model.hasProjection)
        let reference = try CLIPTextModel.load(from: CLIPTextFixture.url("tiny"))
        let a = try model(Self.ids), b = try reference(Self.ids)
        #expect(a.lastHiddenState.scalars == b.lastHiddenState.scalars)
        #expect(a.pooled.scalars == b.pooled.scalars)
    }

    @Test("config errors name the field")
    func configErrors() throws {
        func decode(_ json: String) throws -> CLIPTextConfig {
            try ConfigFile.decode(CLIPTextConfig.self, from: Data(json.utf8), path: "text_encoder/config.json")
        }
        func field(_ json: String) -> String? {
            do {
                _ = try decode(json)
                return nil
            } catch let CheckpointError.invalidConfig(path, field, _) {
                #expect(path == "text_encoder/config.json")
                return field
            } catch {
                Issue.record("unexpected error \(error)")
                return nil
            }
        }
        #expect(field(#"{"hidden_act": "swish"}"#) == "hidden_act")
        #expect(field(#"{"hidden_size": "wide"}"#) == "hidden_size")
        #expect(field(#"{"hidden_size": 30, "num_attention_heads": 4}"#) == "hidden_size")
        #expect(field(#"{"num_hidden_layers": 0}"#) == "num_hidden_layers")
        #expect(field(#"{"layer_norm_eps": -1}"#) == "layer_norm_eps")
        #expect(field(#"{"vocab_size": null}"#) == nil)  // null is "not given": transformers' default
        do {
            _ = try decode(#"{"hidden_act": "swish"}"#)
        } catch {
            #expect("\(error)".contains("unknown activation 'swish'"))
        }

        // Absent keys take transformers' CLIPTextConfig defaults; every activation name decodes.
        #expect(try decode("{}") == CLIPTextConfig())
        for activation in CLIPActivation.allCases {
            #expect(try decode(#"{"hidden_act": "\#(activation.rawValue)"}"#).hiddenAct == activation)
        }
        let sd2 = try CLIPTextModelFullSizeTests.config("sd2")
        #expect(sd2 == CLIPTextConfig(
            vocabSize: 49408, hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 23, numAttentionHeads: 16,
            maxPositionEmbeddings: 77, hiddenAct: .gelu, layerNormEps: 1e-5, projectionDim: 512,
            eosTokenId: 2, padTokenId: 1, bosTokenId: 0))
    }

    @Test("bad input ids are errors, not crashes")
    func inputErrors() throws {
        let model = try CLIPTextModel.load(from: CLIPTextFixture.url("tiny"))
        #expect(throws: CLIPTextModelError.emptyBatch) { try model([]) }
        #expect(throws: CLIPTextModelError.badSequenceLength(78, maximum: 77)) { try model([Array(repeating: 1, count: 78)]) }
        #expect(throws: CLIPTextModelError.badSequenceLength(0, maximum: 77)) { try model([[]]) }
        #expect(throws: CLIPTextModelError.raggedBatch(row: 1, length: 3, expected: 4)) { try model([[1, 2, 3, 4], [1, 2, 3]]) }
        #expect(throws: CLIPTextModelError.tokenOutOfRange(row: 0, position: 2, id: 1000, vocabSize: 1000)) {
            try model([[1, 2, 1000]])
        }
        #expect(throws: CLIPTextModelError.tokenOutOfRange(row: 0, position: 0, id: -1, vocabSize: 1000)) {
            try model([[-1]])
        }
    }

    @Test("hidden states are optional; the last one is the pre-norm form of the last hidden state")
    func hiddenStates() throws {
        let model = try CLIPTextModel.load(from: CLIPTextFixture.url("tiny"))
        let plain = try model(Self.ids)
        #expect(plain.hiddenStates.isEmpty)
        let full = try model(Self.ids, outputHiddenStates: true)
        #expect(full.hiddenStates.count == 4)
        #expect(full.lastHiddenState.scalars == plain.lastHiddenState.scalars)
        #expect(model.finalLayerNorm(full.hiddenStates[3]).scalars == plain.lastHiddenState.scalars)

        // Shorter sequences than the model's 77 positions run too, and their tokens see
        // only earlier ones (causal): a prefix gives the same rows as the full sequence.
        let prefix = try model([Array(Self.ids[1].prefix(10))])
        let rows = full.lastHiddenState.sliced(axis: 0, 1..<2).sliced(axis: 1, 0..<10)
        #expect(CLIPTextFixture.relativeError(prefix.lastHiddenState, rows.scalars) < 1e-6)
        #expect(prefix.endTokenPositions == [0])  // no end token in the row: transformers reads position 0
    }
}

/// Writes small safetensors files for tests (F32 and I64 tensors).
enum TestSafetensors {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: [UInt8]

        init(name: String, tensor: Tensor) {
            self.name = name
            dtype = "F32"
            shape = tensor.shape
            bytes = tensor.scalars.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        }

        init(name: String, int64 values: [Int], shape: [Int]) {
            self.name = name
            dtype = "I64"
            self.shape = shape
            bytes = values.flatMap { withUnsafeBytes(of: Int64($0).littleEndian, Array.init) }
        }
    }

    static func write(_ entries: [Entry], to url: URL) throws {
        var header: [String: Any] = [:]
        var data: [UInt8] = []
        for entry in entries.sorted(by: { $0.name < $1.name }) {
            header[entry.name] = ["dtype": entry.dtype, "shape": entry.shape, "data_offsets": [data.count, data.count + entry.bytes.count]]
            data += entry.bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var file = withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init)
        file += json
        file += data
        try Data(file).write(to: url)
    }
}
