import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// SD 1.5's and SD 2.x's text-encoder configs at full size, on random weights rebuilt from
/// the manifest's seed with the torch-identical generator (the weights are not committed).
/// Serialized: each builds hundreds of megabytes of weights and times itself.
@Suite("CLIPTextModel against transformers (full-size SD configs)", .serialized)
struct CLIPTextModelFullSizeTests {
    @Test("SD 1.5 text encoder: 12 layers, width 768, quick-GELU")
    func sd15() throws {
        try check("sd15", width: 768, layers: 12, activation: .quickGELU)
    }

    @Test("SD 2.x text encoder: 23 layers, width 1024, GELU")
    func sd2() throws {
        try check("sd2", width: 1024, layers: 23, activation: .gelu)
    }

    private func check(_ name: String, width: Int, layers: Int, activation: CLIPActivation) throws {
        let fixture = try CLIPTextFixture.testCase(name)
        let config = try Self.config(name)
        #expect(config.hiddenSize == width && config.numHiddenLayers == layers && config.hiddenAct == activation)

        let clock = ContinuousClock()
        let start = clock.now
        let weights = StrictWeights(tensors: try Self.seededWeights(CLIPTextFixture.manifest(name)), location: "\(name).manifest.json")
        let built = clock.now
        let model = try CLIPTextModel(config: config, weights: weights)
        try weights.checkAllConsumed()
        let loaded = clock.now
        let out = try model(fixture.inputIDs, outputHiddenStates: true)
        let done = clock.now
        print("CLIPTextModel \(name): weights generated in \(built - start), model built in \(loaded - built), "
              + "forward (batch \(fixture.inputIDs.count) x \(fixture.inputIDs[0].count)) in \(done - loaded)")

        #expect(out.hiddenStates.count == fixture.hiddenStates)
        let penultimate = fixture.hiddenStates - 2
        #expect(fixture.savedHiddenStates == [penultimate])
        try CLIPTextFixture.check(out.lastHiddenState, name, "last_hidden_state", shape: [2, 77, width])
        try CLIPTextFixture.check(out.hiddenStates[penultimate], name, "hidden_state\(penultimate)", shape: [2, 77, width])
        try CLIPTextFixture.check(out.pooled, name, "pooled", shape: [2, width])
    }

    /// The case's config as transformers wrote it into `<case>.json`, read the way a
    /// `text_encoder/config.json` is.
    static func config(_ name: String) throws -> CLIPTextConfig {
        struct Wrapper: Decodable { var config: CLIPTextConfig }
        let url = try CLIPTextFixture.url("\(name).json")
        return try ConfigFile.decode(Wrapper.self, from: Data(contentsOf: url), path: url.path).config
    }

    /// `torch.randn(shape, generator=g) * std + mean` for every parameter in order, from one
    /// generator seeded with the manifest's seed (float32 arithmetic, as torch does it).
    ///
    /// The draws run in parallel: a tensor of 16 or more values consumes exactly one stream
    /// word per value (plus 16 when the count is not a multiple of 16, for PyTorch's redrawn
    /// tail) and never touches the cached scalar normal, so one cheap pass over the raw
    /// stream finds where each tensor starts, and each tensor is then drawn from a copy of
    /// the generator at that point. Smaller tensors use the stateful scalar path and are
    /// drawn in order during that pass.
    static func seededWeights(_ manifest: CLIPTextFixture.Manifest) -> [String: Tensor] {
        let parameters = manifest.parameters
        var rng = TorchRandom(seed: manifest.seed)
        var starts = [TorchRandom?](repeating: nil, count: parameters.count)
        var drawn = [Tensor?](repeating: nil, count: parameters.count)
        for (i, p) in parameters.enumerated() {
            let count = p.shape.reduce(1, *)
            if count < 16 {
                drawn[i] = rng.randn(p.shape)
                continue
            }
            starts[i] = rng
            for _ in 0..<(count + (count % 16 == 0 ? 0 : 16)) { _ = rng.nextUInt32() }
        }
        let forks = starts
        let pending = forks.indices.filter { forks[$0] != nil }
            .sorted { parameters[$0].shape.reduce(1, *) > parameters[$1].shape.reduce(1, *) }
        let results = LockedTensors(drawn)
        DispatchQueue.concurrentPerform(iterations: pending.count) { k in
            let i = pending[k]
            var fork = forks[i]!
            results.set(i, fork.randn(parameters[i].shape))
        }
        var tensors: [String: Tensor] = [:]
        for (p, values) in zip(parameters, results.tensors) {
            var t = values! * p.std
            if p.mean != 0 { t = t + p.mean }
            tensors[p.name] = t
        }
        return tensors
    }
}

/// Tensors filled in from several threads.
private final class LockedTensors: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Tensor?]

    init(_ items: [Tensor?]) { self.items = items }

    func set(_ index: Int, _ tensor: Tensor) { lock.withLock { items[index] = tensor } }

    var tensors: [Tensor?] { lock.withLock { items } }
}
