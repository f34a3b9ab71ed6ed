import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// The few-step recipes of scripts/make_fewstep_fixtures.py, laid out as model folders:
/// - `tiny-turbo`: tiny-sd2 with SD-Turbo's scheduler config (Euler, trailing spacing);
/// - `tiny-lcm`: tiny-sd1 with a tiny LCM UNet (`time_cond_proj_dim` 12) and LCM_Dreamshaper_v7's
///   scheduler config;
/// - `tiny-sd1` as it is (LCM and TCD chosen by name).
enum FewStepFixtures {
    static var root: URL {
        get throws {
            try #require(Bundle.module.url(forResource: "fewstep", withExtension: nil, subdirectory: "Fixtures"))
        }
    }

    /// A fresh, complete folder of fixture model `name`.
    static func model(_ name: String) throws -> URL {
        switch name {
        case "tiny-turbo":
            let folder = try TinyModels.folder("tiny-sd2")
            try useScheduler(folder, "turbo-scheduler_config.json")
            return folder
        case "tiny-lcm":
            let folder = try TinyModels.folder("tiny-sd1")
            let unet = folder.appendingPathComponent("unet")
            try FileManager.default.removeItem(at: unet)
            try FileManager.default.copyItem(at: try root.appendingPathComponent("lcm-unet"), to: unet)
            try useScheduler(folder, "lcm-scheduler_config.json")
            return folder
        default:
            return try TinyModels.folder(name)
        }
    }

    /// Gives `folder` the scheduler config `file`, named in model_index.json too (as diffusers reads it).
    static func useScheduler(_ folder: URL, _ file: String) throws {
        let source = try root.appendingPathComponent(file)
        let target = folder.appendingPathComponent("scheduler/scheduler_config.json")
        try FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: source, to: target)
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
        let indexURL = folder.appendingPathComponent("model_index.json")
        var index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any])
        index["scheduler"] = ["diffusers", try #require(config["_class_name"] as? String)]
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
    }

    /// A little-endian float32 file of the fixture folder, shaped `shape`.
    static func tensor(_ file: String, shape: [Int]) throws -> Tensor {
        try FixtureTensors.load(try root.appendingPathComponent(file), shape: shape)
    }
}

/// End-to-end parity of the few-step recipes with diffusers: SD-Turbo's Euler a with trailing
/// spacing at guidance 0 (1, 2, 4 steps), LatentConsistencyModelPipeline with a guidance-
/// embedding UNet (1, 2, 4 steps), LCMScheduler with classifier-free guidance, and TCD
/// (1, 2, 4, 8 steps). Bar: every pixel within 2/255.
@Suite struct FewStepParityTests {
    struct Case: Decodable {
        var model: String
        var scheduler: String
        var steps: Int
        var guidance: Double
        var count: Int
        var seed: UInt64
        var prompt: String
        var negative: String
        var width: Int
        var height: Int
        var file: String
        var shape: [Int]
    }

    static func cases() throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: try FewStepFixtures.root.appendingPathComponent("cases.json")))
    }

    @Test(arguments: ["tiny-turbo", "tiny-lcm", "tiny-sd1"])
    func imagesMatchDiffusers(model name: String) throws {
        let pipeline = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try FewStepFixtures.model(name)))
        let cases = try Self.cases().filter { $0.model == name }
        #expect(!cases.isEmpty)
        for c in cases {
            let request = GenerationRequest(
                prompt: c.prompt, negativePrompt: c.negative.isEmpty ? nil : c.negative, steps: c.steps,
                width: c.width, height: c.height, seed: c.seed, guidanceScale: c.guidance, count: c.count,
                scheduler: c.scheduler == "default" ? nil : c.scheduler)
            var progress: [GenerationProgress] = []
            let result = try pipeline.generate(request, onStep: { progress.append($0) })
            #expect(progress.count == c.steps, "\(name) \(c.file): one UNet evaluation per step")
            let worst = try FixtureImages.worstPixel(result.images, against: try FewStepFixtures.root.appendingPathComponent(c.file))
            #expect(worst <= 2, "\(name) \(c.scheduler) \(c.steps) steps: worst pixel differs by \(worst)/255")
            print("few-step parity \(name) \(result.scheduler) \(c.steps) steps guidance \(c.guidance) x\(c.count) "
                  + "\(c.width)x\(c.height) (\(c.file)): worst pixel \(worst)/255")
        }
    }

    /// diffusers' `do_classifier_free_guidance` is `guidance_scale > 1`: at 0 and 1 the UNet
    /// sees the prompt's rows only; a guidance-embedding UNet never gets an unguided pass and
    /// takes `guidance - 1` as its timestep condition instead.
    @Test func unguidedPassOnlyAboveOne() throws {
        let plain = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try FewStepFixtures.model("tiny-turbo")))
        var warnings: [String] = []
        for (guidance, rows) in [(0.0, 2), (1.0, 2), (1.01, 4), (7.0, 4)] {
            let request = GenerationRequest(prompt: "x", width: 64, height: 64, guidanceScale: guidance, count: 2)
            let conditioning = try plain.condition(request, warnings: &warnings)
            #expect(conditioning.batch == rows, "guidance \(guidance)")
            #expect(plain.runsUnguidedPass(request) == (rows == 4))
            #expect(conditioning.timestepCondition == nil)
        }
        let lcm = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try FewStepFixtures.model("tiny-lcm")))
        #expect(lcm.embedsGuidance && !plain.embedsGuidance)
        let request = GenerationRequest(prompt: "x", width: 64, height: 64, guidanceScale: 8.5, count: 3)
        let conditioning = try lcm.condition(request, warnings: &warnings)
        #expect(conditioning.batch == 3 && !lcm.runsUnguidedPass(request))
        let condition = try #require(conditioning.timestepCondition)
        #expect(condition.shape == [3, 12])
        let expected = GuidanceScaleEmbedding.embedding([7.5], dimension: 12).scalars
        #expect(Array(condition.scalars[24..<36]) == expected, "each image's row is the embedding of 8.5 - 1")
    }

    /// `get_guidance_scale_embedding` for w = 7.5, 0, 2 at widths 12 and 7 (odd: zero-padded).
    /// Arguments reach 7500 radians, where one float32 ulp of a frequency moves sin by ~5e-4.
    @Test(arguments: [12, 7])
    func guidanceEmbeddingMatchesDiffusers(dimension: Int) throws {
        let expected = try FewStepFixtures.tensor("guidance_embedding.\(dimension).f32", shape: [3, dimension])
        let actual = GuidanceScaleEmbedding.embedding([7.5, 0, 2], dimension: dimension)
        let worst = zip(actual.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
        print("guidance embedding \(dimension): max abs difference \(worst)")
        #expect(worst < 1e-3)
        if dimension % 2 == 1 { #expect(actual.scalars[dimension - 1] == 0) }
    }

    /// The LCM UNet with `timestep_cond` (the embedding of 7.5) at t = 999 and 259: within
    /// 1e-4 relative, as the other UNet parity tests.
    @Test func lcmUNetMatchesDiffusers() throws {
        let component = DiffusersComponent(name: "unet", directory: try FewStepFixtures.root.appendingPathComponent("lcm-unet"))
        let unet = try UNet2DConditionModel.load(from: component)
        #expect(unet.config.timeCondProjDim == 12)
        let latents = try FewStepFixtures.tensor("lcm-unet.input.latents.f32", shape: [2, 4, 8, 8])
        let context = try FewStepFixtures.tensor("lcm-unet.input.context.f32", shape: [2, 77, 32])
        let condition = GuidanceScaleEmbedding.embedding([7.5, 7.5], dimension: 12)
        for t in [999, 259] {
            let expected = try FewStepFixtures.tensor("lcm-unet.t\(t).f32", shape: latents.shape)
            let output = unet(latents, timesteps: [Float(t), Float(t)], encoderHiddenStates: context,
                              timestepCondition: condition)
            let error = UNetVAEFixtures.relativeError(output, expected)
            print("LCM UNet parity t=\(t): relative error \(error)")
            #expect(error < 1e-4, "t=\(t): relative error \(error)")
            let without = unet(latents, timesteps: [Float(t), Float(t)], encoderHiddenStates: context)
            #expect(UNetVAEFixtures.relativeError(without, expected) > 1e-3, "the condition changes the output")
        }
    }

    /// A UNet config with `time_cond_proj_dim` needs `time_embedding.cond_proj.weight`.
    @Test func lcmUNetWithoutCondProjIsRefused() throws {
        let folder = try FewStepFixtures.model("tiny-sd1")
        let config = folder.appendingPathComponent("unet/config.json")
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: config)) as? [String: Any])
        json["time_cond_proj_dim"] = 12
        try JSONSerialization.data(withJSONObject: json).write(to: config)
        let error = #expect(throws: (any Error).self) { try StableDiffusionModel.load(from: folder) }
        #expect("\(error!)".contains("time_embedding.cond_proj.weight"), "\(error!)")
    }
}

/// LCMScheduler's and TCDScheduler's schedules and options against diffusers.
@Suite struct ConsistencySchedulerTests {
    struct Schedule: Decodable {
        var `class`: String
        var config: [String: Int]
        var steps: Int
        var timesteps: [Int]
    }

    static let lcmConfig = """
        {"_class_name": "LCMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
         "clip_sample": false, "num_train_timesteps": 1000, "original_inference_steps": 50,
         "prediction_type": "epsilon", "set_alpha_to_one": true, "steps_offset": 1, "thresholding": false,
         "timestep_scaling": 10.0, "timestep_spacing": "leading", "trained_betas": null}
        """

    static func configuration(_ changes: [String: Any] = [:]) throws -> SchedulerConfiguration {
        var json = try #require(try JSONSerialization.jsonObject(with: Data(lcmConfig.utf8)) as? [String: Any])
        for (key, value) in changes { json[key] = value }
        return try SchedulerConfiguration.decode(try JSONSerialization.data(withJSONObject: json))
    }

    @Test func timestepsMatchDiffusers() throws {
        let url = try FewStepFixtures.root.appendingPathComponent("timesteps.json")
        let schedules = try JSONDecoder().decode([Schedule].self, from: Data(contentsOf: url))
        #expect(schedules.count == 32)
        for s in schedules {
            let name = s.class == "LCMScheduler" ? "lcm" : "tcd"
            var scheduler = try SchedulerName.scheduler(named: name, configuration: Self.configuration(s.config))
            #expect(scheduler.className == s.class)
            try scheduler.setTimesteps(s.steps)
            #expect(scheduler.timesteps == s.timesteps.map(Float.init), "\(s.class) \(s.config) \(s.steps) steps")
        }
    }

    @Test func namesAndModelDefaults() throws {
        #expect(try SchedulerName(parsing: "LCM") == .lcm)
        #expect(try SchedulerName(parsing: "TCDScheduler") == .tcd)
        #expect(SchedulerName.validNames.contains("lcm") && SchedulerName.validNames.contains("tcd"))
        #expect(try SchedulerName.scheduler(named: nil, configuration: Self.configuration()).className == "LCMScheduler")
        let tcd = try Self.configuration(["_class_name": "TCDScheduler"])
        let scheduler = try SchedulerName.scheduler(named: nil, configuration: tcd)
        #expect(scheduler.className == "TCDScheduler")
        #expect((scheduler as? TCDScheduler)?.gamma == 0.3)
    }

    @Test func badOptionsAreRefused() throws {
        // More steps than the distillation schedule has.
        var lcm = try SchedulerName.lcm.make(configuration: Self.configuration())
        let tooMany = #expect(throws: SchedulerError.self) { try lcm.setTimesteps(51) }
        #expect("\(tooMany!)".contains("original_inference_steps"), "\(tooMany!)")
        var tcd = try SchedulerName.tcd.make(configuration: Self.configuration(["original_inference_steps": 4]))
        #expect(throws: SchedulerError.self) { try tcd.setTimesteps(5) }
        // A distillation schedule longer than training.
        let long = #expect(throws: SchedulerError.self) {
            try SchedulerName.lcm.make(configuration: Self.configuration(["original_inference_steps": 2000]))
        }
        #expect("\(long!)".contains("original_inference_steps"))
        for name in [SchedulerName.lcm, .tcd] {
            let thresholding = #expect(throws: SchedulerError.self) {
                try name.make(configuration: Self.configuration(["thresholding": true]))
            }
            #expect("\(thresholding!)".contains("thresholding"))
            #expect(throws: SchedulerError.self) {
                try name.make(configuration: Self.configuration(["prediction_type": "flow"]))
            }
        }
    }

    /// Every scheduler that reads `timestep_spacing` names it when its value is unknown;
    /// LCM and TCD, like diffusers', do not read it.
    @Test(arguments: [SchedulerName.pndm, .ddim, .euler, .eulerAncestral, .dpmSolverMultistep, .dpmSolverMultistepKarras])
    func unknownTimestepSpacingIsRefused(name: SchedulerName) throws {
        let error = #expect(throws: SchedulerError.self) {
            try name.make(configuration: Self.configuration(["timestep_spacing": "sideways"]))
        }
        #expect("\(error!)".contains("timestep_spacing") && "\(error!)".contains("sideways"), "\(error!)")
        #expect(throws: Never.self) { try SchedulerName.lcm.make(configuration: Self.configuration(["timestep_spacing": "sideways"])) }
    }
}
