import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Full denoising runs recorded from diffusers by scripts/make_scheduler_fixtures.py.
private struct SchedulerFixture: Decodable {
    struct Step: Decodable {
        let t: Double
        let prev: String
        let input: String?
    }
    struct Run: Decodable {
        let config: String
        let name: String?
        let className: String
        let steps: Int
        let seed: UInt64
        let shape: [Int]
        let timesteps: [Double]
        let sigmas: [Double]?
        let initNoiseSigma: Double
        let initialLatents: String
        let trace: [Step]
    }
    let group: String
    let diffusers: String
    let runs: [Run]

    static let directory = "Fixtures/schedulers"

    static func groups() throws -> [String] {
        let url = try #require(Bundle.module.url(forResource: "index", withExtension: "json", subdirectory: directory))
        return try JSONDecoder().decode([String].self, from: Data(contentsOf: url)).map { String($0.dropLast(5)) }
    }

    static func load(_ group: String) throws -> SchedulerFixture {
        let url = try #require(Bundle.module.url(forResource: group, withExtension: "json", subdirectory: directory))
        return try JSONDecoder().decode(SchedulerFixture.self, from: Data(contentsOf: url))
    }
}

/// Float32 little-endian base64, as the fixture scripts write tensors.
private func decodeFloat32Base64(_ text: String) -> [Float] {
    guard let data = Data(base64Encoded: text) else { return [] }
    return FixtureTensors.floats(data)
}

/// max |a − b| / max |b|: the relative error the parity tests bound.
private func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "\(a.count) values against \(b.count)")
    var diff = 0.0, scale = 0.0
    for (x, y) in zip(a, b) {
        diff = max(diff, abs(Double(x) - Double(y)))
        scale = max(scale, abs(Double(y)))
    }
    return scale == 0 ? diff : diff / scale
}

/// The fixture's fake model, in the same float32 operations as the script:
/// `x * 0.9 + float32(0.1 * sin(t / 100))`.
private func fakeModel(_ x: Tensor, timestep: Float) -> Tensor {
    let c = Float(0.1 * Foundation.sin(Double(timestep) / 100.0))
    return x * Float(0.9 as Double) + c
}

/// The σ list of the schedulers that have one.
private func sigmas(of scheduler: any Scheduler) -> [Float]? {
    switch scheduler {
    case let s as EulerDiscreteScheduler: s.sigmas
    case let s as EulerAncestralDiscreteScheduler: s.sigmas
    case let s as DPMSolverMultistepScheduler: s.sigmas
    default: nil
    }
}

@Suite struct SchedulerParityTests {
    /// Relative tolerance per step on the whole trajectory (max abs diff / max abs reference).
    static let tolerance = 1e-4
    /// For zero-terminal-SNR schedules (σ_max ≈ 4096), whose first Euler step cancels a
    /// sample 400 times larger than its result: there, moving σ_max by one float ulp in
    /// diffusers itself moves the whole trajectory by 9.4e-5 relative, and PyTorch's float
    /// sqrt (MKL, not correctly rounded: 17% of inputs are one ulp off) does exactly that.
    static let illConditionedTolerance = 2e-4

    @Test(arguments: try SchedulerFixture.groups())
    func matchesDiffusers(group: String) throws {
        let fixture = try SchedulerFixture.load(group)
        #expect(!fixture.runs.isEmpty)
        var worstByClass: [String: Double] = [:]
        for run in fixture.runs {
            let label = "\(group) \(run.name ?? "default") \(run.steps) steps"
            let configuration = try SchedulerConfiguration.decode(Data(run.config.utf8), path: "\(group).json")
            var scheduler = try SchedulerName.scheduler(named: run.name, configuration: configuration)
            #expect(scheduler.className == run.className, "\(label)")
            try scheduler.setTimesteps(run.steps)

            // Timesteps are the model's input. Integer ones (PNDM, DDIM, DPM-Solver, and
            // Euler's unless its σ are Karras/exponential/continuous) must be identical;
            // Euler's fractional ones come from NumPy's and PyTorch's SIMD log and pow,
            // which differ from the C library's (and between CPUs) in the last bits.
            #expect(scheduler.timesteps.count == run.timesteps.count, "\(label)")
            for (actual, expected) in zip(scheduler.timesteps, run.timesteps) {
                if expected == expected.rounded() {
                    #expect(Double(actual) == expected, "\(label): timesteps \(scheduler.timesteps) vs \(run.timesteps)")
                } else {
                    #expect(abs(Double(actual) - expected) <= 1e-6 * max(1, abs(expected)),
                            "\(label): timestep \(actual) vs \(expected)")
                }
            }
            if let expected = run.sigmas {
                let actual = try #require(sigmas(of: scheduler), "\(label): no sigmas")
                #expect(actual.count == expected.count, "\(label)")
                #expect(relativeError(actual, expected.map { Float($0) }) <= 1e-6, "\(label): sigmas \(actual) vs \(expected)")
            }
            #expect(abs(Double(scheduler.initNoiseSigma) - run.initNoiseSigma) <= 1e-6 * max(1, run.initNoiseSigma),
                    "\(label): init_noise_sigma \(scheduler.initNoiseSigma) vs \(run.initNoiseSigma)")

            var generator = TorchRandom(seed: run.seed)
            var latents = generator.randn(run.shape) * scheduler.initNoiseSigma
            #expect(relativeError(latents.scalars, decodeFloat32Base64(run.initialLatents)) <= 1e-6, "\(label): initial latents")

            let tolerance = (sigmas(of: scheduler)?.first ?? 0) > 1000 ? Self.illConditionedTolerance : Self.tolerance
            var worst = 0.0
            for (index, (t, step)) in zip(scheduler.timesteps, run.trace).enumerated() {
                let input = scheduler.scaleModelInput(latents, timestep: t)
                if let expectedInput = step.input {
                    let error = relativeError(input.scalars, decodeFloat32Base64(expectedInput))
                    #expect(error <= tolerance, "\(label) step \(index): model input error \(error)")
                } else {
                    #expect(input.scalars == latents.scalars, "\(label): scaling should be the identity")
                }
                let output = fakeModel(input, timestep: t)
                latents = scheduler.step(output, timestep: t, sample: latents, generator: &generator)
                let error = relativeError(latents.scalars, decodeFloat32Base64(step.prev))
                worst = max(worst, error)
                if error > tolerance {
                    Issue.record("\(label) step \(index) (t = \(t)): relative error \(error)")
                    break
                }
            }
            #expect(run.trace.count == scheduler.timesteps.count, "\(label)")
            worstByClass[run.name ?? run.className, default: 0] = max(worstByClass[run.name ?? run.className, default: 0], worst)
        }
        let summary = worstByClass.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.2e", $0.value))" }
        print("scheduler parity \(group) (diffusers \(fixture.diffusers)): max relative error \(summary.joined(separator: ", "))")
    }
}
