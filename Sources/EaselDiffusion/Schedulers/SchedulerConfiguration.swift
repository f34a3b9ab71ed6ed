import Foundation

/// The contents of a diffusers `scheduler/scheduler_config.json`, every key optional.
///
/// A key the file leaves out stays `nil` and each scheduler fills in its own diffusers
/// default, so one configuration can build any scheduler the way diffusers'
/// `OtherScheduler.from_config(config)` does: the keys the target class accepts carry over,
/// the others are ignored, and missing ones take the target's defaults (DDIM's
/// `set_alpha_to_one` default is `true`, PNDM's is `false`, and so on).
public struct SchedulerConfiguration: Sendable, Equatable {
    /// `_class_name`, e.g. `PNDMScheduler`; chooses the default scheduler.
    public var className: String?
    public var numTrainTimesteps: Int?
    public var betaStart: Double?
    public var betaEnd: Double?
    /// `linear`, `scaled_linear` or `squaredcos_cap_v2`.
    public var betaSchedule: String?
    /// Betas given outright; they replace `beta_start`/`beta_end`/`beta_schedule`.
    public var trainedBetas: [Double]?
    public var rescaleBetasZeroSnr: Bool?
    /// `epsilon`, `v_prediction` or `sample`.
    public var predictionType: String?
    /// `leading`, `linspace` or `trailing`.
    public var timestepSpacing: String?
    public var stepsOffset: Int?
    public var setAlphaToOne: Bool?
    public var clipSample: Bool?
    public var clipSampleRange: Double?
    public var thresholding: Bool?
    public var skipPrkSteps: Bool?
    /// Euler: `linear` or `log_linear`.
    public var interpolationType: String?
    /// Euler: `discrete` or `continuous`.
    public var timestepType: String?
    public var useKarrasSigmas: Bool?
    public var useExponentialSigmas: Bool?
    public var useBetaSigmas: Bool?
    public var useLuLambdas: Bool?
    public var useFlowSigmas: Bool?
    public var sigmaMin: Double?
    public var sigmaMax: Double?
    /// `zero` or `sigma_min`.
    public var finalSigmasType: String?
    public var solverOrder: Int?
    /// `dpmsolver++`, `dpmsolver`, `sde-dpmsolver++`, `sde-dpmsolver`.
    public var algorithmType: String?
    /// `midpoint` or `heun`.
    public var solverType: String?
    public var lowerOrderFinal: Bool?
    public var eulerAtFinal: Bool?
    public var lambdaMinClipped: Double?
    public var varianceType: String?
    /// LCM and TCD: the length of the distillation schedule the inference steps are taken from.
    public var originalInferenceSteps: Int?
    /// LCM and TCD: the factor on the timestep in the consistency boundary condition.
    public var timestepScaling: Double?

    /// An empty configuration: every scheduler built from it uses only its own defaults.
    public init() {}

    /// Reads `scheduler_config.json` at `url`; errors name the file and the field.
    public static func load(from url: URL) throws -> SchedulerConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SchedulerError.unreadableConfiguration(path: url.path, reason: error.localizedDescription)
        }
        return try decode(data, path: url.path)
    }

    /// Decodes the text of a `scheduler_config.json`. Python's `json` writes the default
    /// `lambda_min_clipped` as a bare `-Infinity`, which is not JSON; such tokens are read.
    public static func decode(_ data: Data, path: String = "scheduler_config.json") throws -> SchedulerConfiguration {
        try ConfigFile.decode(SchedulerConfiguration.self, from: quotingNonFiniteNumbers(data), path: path)
    }

    /// Puts `NaN`, `Infinity` and `-Infinity` outside strings in quotes, so a JSON decoder
    /// sees strings that `decodeNumber` turns back into numbers.
    static func quotingNonFiniteNumbers(_ data: Data) -> Data {
        let bytes = [UInt8](data)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 16)
        var inString = false, escaped = false
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if b == UInt8(ascii: "\"") { inString = true }
            var matched = false
            for token in ["-Infinity", "Infinity", "NaN"] {
                let t = Array(token.utf8)
                if i + t.count <= bytes.count, Array(bytes[i..<(i + t.count)]) == t {
                    out.append(UInt8(ascii: "\""))
                    out.append(contentsOf: t)
                    out.append(UInt8(ascii: "\""))
                    i += t.count
                    matched = true
                    break
                }
            }
            if !matched {
                out.append(b)
                i += 1
            }
        }
        return Data(out)
    }
}

extension SchedulerConfiguration: Decodable {
    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case numTrainTimesteps = "num_train_timesteps"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
        case trainedBetas = "trained_betas"
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case predictionType = "prediction_type"
        case timestepSpacing = "timestep_spacing"
        case stepsOffset = "steps_offset"
        case setAlphaToOne = "set_alpha_to_one"
        case clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
        case thresholding
        case skipPrkSteps = "skip_prk_steps"
        case interpolationType = "interpolation_type"
        case timestepType = "timestep_type"
        case useKarrasSigmas = "use_karras_sigmas"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case useLuLambdas = "use_lu_lambdas"
        case useFlowSigmas = "use_flow_sigmas"
        case sigmaMin = "sigma_min"
        case sigmaMax = "sigma_max"
        case finalSigmasType = "final_sigmas_type"
        case solverOrder = "solver_order"
        case algorithmType = "algorithm_type"
        case solverType = "solver_type"
        case lowerOrderFinal = "lower_order_final"
        case eulerAtFinal = "euler_at_final"
        case lambdaMinClipped = "lambda_min_clipped"
        case varianceType = "variance_type"
        case originalInferenceSteps = "original_inference_steps"
        case timestepScaling = "timestep_scaling"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func number(_ key: CodingKeys) throws -> Double? { try Self.decodeNumber(c, key) }
        func int(_ key: CodingKeys) throws -> Int? {
            guard let value = try number(key) else { return nil }
            guard let exact = Int(exactly: value) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "expected an integer, got \(value)")
            }
            return exact
        }
        className = try c.decodeIfPresent(String.self, forKey: .className)
        // Bounded so that schedule arrays stay small and `step * ratio + offset` cannot overflow.
        func boundedInt(_ key: CodingKeys, in range: ClosedRange<Int>) throws -> Int? {
            guard let value = try int(key) else { return nil }
            guard range.contains(value) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "\(value) is out of range (\(range.lowerBound) to \(range.upperBound))")
            }
            return value
        }
        numTrainTimesteps = try boundedInt(.numTrainTimesteps, in: 1...100_000)
        betaStart = try number(.betaStart)
        betaEnd = try number(.betaEnd)
        betaSchedule = try c.decodeIfPresent(String.self, forKey: .betaSchedule)
        trainedBetas = try c.decodeIfPresent([Double].self, forKey: .trainedBetas)
        rescaleBetasZeroSnr = try c.decodeIfPresent(Bool.self, forKey: .rescaleBetasZeroSnr)
        predictionType = try c.decodeIfPresent(String.self, forKey: .predictionType)
        timestepSpacing = try c.decodeIfPresent(String.self, forKey: .timestepSpacing)
        stepsOffset = try boundedInt(.stepsOffset, in: 0...100_000)
        setAlphaToOne = try c.decodeIfPresent(Bool.self, forKey: .setAlphaToOne)
        clipSample = try c.decodeIfPresent(Bool.self, forKey: .clipSample)
        clipSampleRange = try number(.clipSampleRange)
        thresholding = try c.decodeIfPresent(Bool.self, forKey: .thresholding)
        skipPrkSteps = try c.decodeIfPresent(Bool.self, forKey: .skipPrkSteps)
        interpolationType = try c.decodeIfPresent(String.self, forKey: .interpolationType)
        timestepType = try c.decodeIfPresent(String.self, forKey: .timestepType)
        useKarrasSigmas = try c.decodeIfPresent(Bool.self, forKey: .useKarrasSigmas)
        useExponentialSigmas = try c.decodeIfPresent(Bool.self, forKey: .useExponentialSigmas)
        useBetaSigmas = try c.decodeIfPresent(Bool.self, forKey: .useBetaSigmas)
        useLuLambdas = try c.decodeIfPresent(Bool.self, forKey: .useLuLambdas)
        useFlowSigmas = try c.decodeIfPresent(Bool.self, forKey: .useFlowSigmas)
        sigmaMin = try number(.sigmaMin)
        sigmaMax = try number(.sigmaMax)
        finalSigmasType = try c.decodeIfPresent(String.self, forKey: .finalSigmasType)
        solverOrder = try int(.solverOrder)
        algorithmType = try c.decodeIfPresent(String.self, forKey: .algorithmType)
        solverType = try c.decodeIfPresent(String.self, forKey: .solverType)
        lowerOrderFinal = try c.decodeIfPresent(Bool.self, forKey: .lowerOrderFinal)
        eulerAtFinal = try c.decodeIfPresent(Bool.self, forKey: .eulerAtFinal)
        lambdaMinClipped = try number(.lambdaMinClipped)
        varianceType = try c.decodeIfPresent(String.self, forKey: .varianceType)
        originalInferenceSteps = try boundedInt(.originalInferenceSteps, in: 1...100_000)
        timestepScaling = try number(.timestepScaling)
    }

    /// A number, or one of the quoted non-finite tokens `quotingNonFiniteNumbers` made.
    private static func decodeNumber(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Double? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        if let value = try? c.decode(Double.self, forKey: key) { return value }
        switch try c.decode(String.self, forKey: key) {
        case "-Infinity": return -.infinity
        case "Infinity": return .infinity
        case "NaN": return .nan
        case let other:
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "expected a number, got \"\(other)\"")
        }
    }
}
