import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

@Suite struct SchedulerNameTests {
    /// runwayml/stable-diffusion-v1-5's scheduler_config.json.
    static let sd15 = """
        {
          "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
          "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
          "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1,
          "trained_betas": null, "clip_sample": false
        }
        """

    static func configuration(_ text: String = sd15) throws -> SchedulerConfiguration {
        try SchedulerConfiguration.decode(Data(text.utf8))
    }

    @Test func parsesNamesCaseInsensitively() throws {
        let cases: [(String, SchedulerName)] = [
            ("pndm", .pndm), ("PLMS", .pndm), ("DDIM", .ddim), ("Euler", .euler),
            ("euler_a", .eulerAncestral), ("Euler-Ancestral", .eulerAncestral), ("euler ancestral", .eulerAncestral),
            ("EULER_A", .eulerAncestral), ("dpm++2m", .dpmSolverMultistep), ("DPM++ 2M", .dpmSolverMultistep),
            ("dpmpp2m", .dpmSolverMultistep), ("dpm++2m-karras", .dpmSolverMultistepKarras),
            ("DPM++ 2M Karras", .dpmSolverMultistepKarras), ("dpm++2m_karras", .dpmSolverMultistepKarras),
            ("EulerDiscreteScheduler", .euler),
        ]
        for (text, expected) in cases {
            #expect(try SchedulerName(parsing: text) == expected, "\(text)")
        }
    }

    @Test func unknownNameListsTheValidOnes() throws {
        let error = #expect(throws: SchedulerError.self) { try SchedulerName(parsing: "lms") }
        let message = "\(error!)"
        #expect(message.contains("\"lms\""))
        for name in SchedulerName.validNames { #expect(message.contains(name), "\(message)") }
        #expect(throws: SchedulerError.self) {
            try SchedulerName.scheduler(named: "heun", configuration: Self.configuration())
        }
    }

    @Test func defaultIsTheModelsClass() throws {
        #expect(try SchedulerName.scheduler(named: nil, configuration: Self.configuration()).className == "PNDMScheduler")
        #expect(try SchedulerName.scheduler(named: "", configuration: Self.configuration()).className == "PNDMScheduler")
        let lms = Self.sd15.replacingOccurrences(of: "PNDMScheduler", with: "LMSDiscreteScheduler")
        let error = #expect(throws: SchedulerError.self) {
            try SchedulerName.scheduler(named: nil, configuration: Self.configuration(lms))
        }
        #expect("\(error!)".contains("LMSDiscreteScheduler"))
        #expect(throws: SchedulerError.missingClassName) {
            try SchedulerName.scheduler(named: nil, configuration: SchedulerConfiguration())
        }
    }

    /// A named scheduler takes over the model's shared keys, as diffusers' `from_config`:
    /// SD 1.5's `steps_offset` 1 shifts DDIM's leading timesteps; DDIM's own
    /// `set_alpha_to_one` default does not leak into PNDM.
    @Test func carriesConfigurationOver() throws {
        var ddim = try SchedulerName.ddim.make(configuration: Self.configuration())
        try ddim.setTimesteps(4)
        #expect(ddim.timesteps == [751, 501, 251, 1])
        var euler = try SchedulerName.euler.make(configuration: Self.configuration())
        try euler.setTimesteps(3)
        #expect(euler.timesteps == [999, 499.5, 0])
    }

    @Test func readsSavedConfigurationsWithNonFiniteNumbers() throws {
        let text = """
            {"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity,
             "note": "a string with -Infinity and NaN inside", "sigma_max": null, "solver_order": 2}
            """
        let configuration = try Self.configuration(text)
        #expect(configuration.lambdaMinClipped == -.infinity)
        #expect(configuration.solverOrder == 2)
        #expect(configuration.sigmaMax == nil)
    }

    @Test func badValuesAreNamed() throws {
        let bad = try Self.configuration(#"{"_class_name": "EulerDiscreteScheduler", "timestep_spacing": "sideways"}"#)
        let error = #expect(throws: SchedulerError.self) { try SchedulerName.scheduler(named: nil, configuration: bad) }
        #expect("\(error!)".contains("timestep_spacing"))
        let thresholding = try Self.configuration(#"{"_class_name": "DDIMScheduler", "thresholding": true}"#)
        #expect(throws: SchedulerError.self) { try SchedulerName.scheduler(named: nil, configuration: thresholding) }
        #expect(throws: (any Error).self) { try Self.configuration(#"{"steps_offset": 1.5}"#) }
        var pndm = try SchedulerName.pndm.make(configuration: Self.configuration())
        #expect(throws: SchedulerError.self) { try pndm.setTimesteps(0) }
        #expect(throws: SchedulerError.self) { try pndm.setTimesteps(1001) }
    }

    /// The training schedule is built with PyTorch's float32 kernels; spot values from
    /// `PNDMScheduler.from_config(sd15).alphas_cumprod`.
    @Test func trainingScheduleMatchesTorch() throws {
        let schedule = try TrainingNoiseSchedule(Self.configuration(), defaults: SchedulerDefaults(timestepSpacing: "leading"),
                                                 scheduler: "test")
        #expect(schedule.alphasCumprod.count == 1000)
        #expect(schedule.alphasCumprod[0] == 0.99915)
        #expect(schedule.alphasCumprod[999] == Float(bitPattern: 0x3B98_B3B6))  // 0.004660095
    }

    /// DDIM with η > 0 draws its variance noise from the generator.
    @Test func ddimEtaUsesTheGenerator() throws {
        var ddim = try DDIMScheduler(configuration: Self.configuration())
        ddim.eta = 1
        try ddim.setTimesteps(5)
        let sample = Tensor(repeating: 0.5, shape: [1, 4, 2, 2])
        var a = TorchRandom(seed: 1), b = TorchRandom(seed: 2)
        var ddimB = ddim
        let t = ddim.timesteps[1]
        let x = ddim.step(sample, timestep: t, sample: sample, generator: &a)
        let y = ddimB.step(sample, timestep: t, sample: sample, generator: &b)
        #expect(x.scalars != y.scalars)
    }
}
