import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The committed text-encoder fixtures (scripts/make_text_encoder_fixtures.py): inputs and
/// transformers' outputs for random-weight models.
enum CLIPTextFixture {
    /// What `<case>.json` records about a case.
    struct Case: Decodable {
        var inputIDs: [[Int]]
        var hiddenStates: Int
        var savedHiddenStates: [Int]
        var seed: Int?

        enum CodingKeys: String, CodingKey {
            case inputIDs = "input_ids"
            case hiddenStates = "hidden_states"
            case savedHiddenStates = "saved_hidden_states"
            case seed
        }
    }

    /// One parameter of a full-size manifest: `torch.randn(shape) * std + mean`.
    struct Parameter: Decodable {
        var name: String
        var shape: [Int]
        var std: Float
        var mean: Float
    }

    struct Manifest: Decodable {
        var seed: Int
        var parameters: [Parameter]
    }

    static func directory() throws -> URL {
        let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return root.appendingPathComponent("text_encoder", isDirectory: true)
    }

    static func url(_ name: String) throws -> URL { try directory().appendingPathComponent(name) }

    static func testCase(_ name: String) throws -> Case {
        try JSONDecoder().decode(Case.self, from: Data(contentsOf: url("\(name).json")))
    }

    static func manifest(_ name: String) throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url("\(name).manifest.json")))
    }

    /// Expected output `<case>.<output>.f32` (little-endian float32) as a flat array.
    static func expected(_ name: String, _ output: String) throws -> [Float] {
        FixtureTensors.floats(try Data(contentsOf: url("\(name).\(output).f32")))
    }

    /// Max absolute difference over max absolute reference (the "1e-4 relative").
    static func relativeError(_ actual: Tensor, _ reference: [Float]) -> Float {
        precondition(actual.count == reference.count, "sizes differ: \(actual.shape) vs \(reference.count) values")
        var diff: Float = 0, scale: Float = 0
        for (a, r) in zip(actual.scalars, reference) {
            diff = max(diff, abs(a - r))
            scale = max(scale, abs(r))
        }
        return diff / scale
    }

    /// Compares `actual` with `<case>.<output>.f32`, printing the error for the record.
    static func check(_ actual: Tensor, _ name: String, _ output: String, shape: [Int], tolerance: Float = 1e-4) throws {
        #expect(actual.shape == shape, "\(name).\(output) shape")
        let error = relativeError(actual, try expected(name, output))
        print("CLIPTextModel \(name).\(output): max relative error \(error)")
        #expect(error <= tolerance, "\(name).\(output): relative error \(error) over \(tolerance)")
    }
}

@Suite("CLIPTextModel against transformers (tiny models)")
struct CLIPTextModelParityTests {
    @Test("tiny CLIPTextModel (encoder.* names, quick-GELU, first eos position): every output")
    func tiny() throws {
        let model = try CLIPTextModel.load(from: CLIPTextFixture.url("tiny"))
        #expect(model.weightPrefix == "")
        #expect(!model.hasProjection)
        let fixture = try CLIPTextFixture.testCase("tiny")
        let out = try model(fixture.inputIDs, outputHiddenStates: true)
        #expect(out.endTokenPositions == [4, 76])
        #expect(out.hiddenStates.count == fixture.hiddenStates)
        try CLIPTextFixture.check(out.lastHiddenState, "tiny", "last_hidden_state", shape: [2, 77, 32])
        try CLIPTextFixture.check(out.pooled, "tiny", "pooled", shape: [2, 32])
        for i in fixture.savedHiddenStates {
            try CLIPTextFixture.check(out.hiddenStates[i], "tiny", "hidden_state\(i)", shape: [2, 77, 32])
        }
    }

    @Test("tiny CLIPTextModelWithProjection (text_model.* names, GELU, argmax pooling, projected)")
    func tinyWithProjection() throws {
        let directory = try CLIPTextFixture.url("tiny-proj")
        let config = try CLIPTextConfig.load(from: directory.appendingPathComponent("config.json"))
        #expect(config.hiddenAct == .gelu && config.eosTokenId == 2)
        let weights = StrictWeights(try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors")))
        let model = try CLIPTextModel(config: config, weights: weights)
        try weights.checkAllConsumed()
        #expect(model.weightPrefix == "text_model.")
        #expect(model.hasProjection)

        let fixture = try CLIPTextFixture.testCase("tiny-proj")
        let out = try model(fixture.inputIDs, outputHiddenStates: true)
        #expect(out.endTokenPositions == [4, 2])  // argmax of each row's ids
        try CLIPTextFixture.check(out.lastHiddenState, "tiny-proj", "last_hidden_state", shape: [2, 77, 32])
        try CLIPTextFixture.check(out.pooled, "tiny-proj", "pooled", shape: [2, 24])
        for i in fixture.savedHiddenStates {
            try CLIPTextFixture.check(out.hiddenStates[i], "tiny-proj", "hidden_state\(i)", shape: [2, 77, 32])
        }
    }
}
