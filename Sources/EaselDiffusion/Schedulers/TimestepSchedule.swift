import Foundation

/// The NumPy operations diffusers builds its timestep and sigma schedules with, reproduced
/// to the last bit in double precision: the schedules are integers and floats that must come
/// out *equal* to diffusers' (a timestep off by one is a different model input).
enum NumPy {
    /// `np.linspace(start, stop, count)`: `i * step + start`, the last value exactly `stop`.
    static func linspace(_ start: Double, _ stop: Double, count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (stop - start) / Double(count - 1)
        var values = (0..<count).map { step == 0 ? start : Double($0) * step + start }
        values[count - 1] = stop
        return values
    }

    /// `np.arange(start, stop, step)` for floats: the length is ⌈(stop − start) / step⌉, the
    /// first two values are `start` and `start + step`, the rest `start + i * delta` with
    /// `delta` the difference of those two (NumPy's `DOUBLE_fill`).
    static func arange(_ start: Double, _ stop: Double, step: Double) -> [Double] {
        let length = Int(((stop - start) / step).rounded(.up))
        guard length > 0 else { return [] }
        var values = [start]
        guard length > 1 else { return values }
        values.append(start + step)
        let delta = values[1] - values[0]
        for i in 2..<length { values.append(start + Double(i) * delta) }
        return values
    }

    /// `np.round`: to the nearest integer, halves to even.
    static func round(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }

    /// `np.interp(x, arange(len(fp)), fp)`: linear interpolation over integer abscissae.
    static func interp(_ x: Double, _ fp: [Double]) -> Double {
        let last = fp.count - 1
        if x <= 0 { return fp[0] }
        if x >= Double(last) { return fp[last] }
        let j = Int(x.rounded(.down))
        if Double(j) == x { return fp[j] }
        let slope = (fp[j + 1] - fp[j]) / (Double(j + 1) - Double(j))
        return slope * (x - Double(j)) + fp[j]
    }
}

/// How the inference timesteps are spread over the training timesteps
/// (table 2 of "Common Diffusion Noise Schedules and Sample Steps are Flawed").
enum TimestepSpacing: String, Sendable {
    case leading, linspace, trailing

    init(_ value: String?, default fallback: TimestepSpacing, scheduler: String) throws {
        guard let value else { self = fallback; return }
        guard let spacing = TimestepSpacing(rawValue: value) else {
            throw SchedulerError.unsupportedOption(scheduler: scheduler, key: "timestep_spacing", value: value,
                                                   reason: "expected leading, linspace or trailing")
        }
        self = spacing
    }

    /// The descending integer timesteps DDIM, PNDM (reversed) and Euler use:
    /// - leading: `arange(0, n) * (N // n)` reversed, plus `steps_offset`;
    /// - linspace: `linspace(0, N - 1, n)` rounded, reversed;
    /// - trailing: `round(arange(N, 0, -N / n)) - 1`.
    /// Values are doubles because Euler keeps them as floats (linspace is not rounded there).
    func descendingTimesteps(count: Int, trainSteps: Int, stepsOffset: Int, roundLinspace: Bool) -> [Double] {
        switch self {
        case .leading:
            let ratio = trainSteps / count
            return (0..<count).reversed().map { Double($0 * ratio + stepsOffset) }
        case .linspace:
            let values = NumPy.linspace(0, Double(trainSteps - 1), count: count)
            return (roundLinspace ? values.map(NumPy.round) : values).reversed()
        case .trailing:
            let ratio = Double(trainSteps) / Double(count)
            return NumPy.arange(Double(trainSteps), 0, step: -ratio).map { NumPy.round($0) - 1 }
        }
    }
}

/// Sigma schedules in the k-diffusion parameterisation (σ = √((1 − ᾱ) / ᾱ)), shared by
/// Euler, Euler ancestral and DPM-Solver++ (diffusers' `_convert_to_karras`,
/// `_convert_to_exponential`, `_sigma_to_t`).
enum SigmaSchedule {
    /// Karras et al. (2022) ρ = 7 schedule from `sigmaMax` down to `sigmaMin`, in double.
    static func karras(sigmaMin: Double, sigmaMax: Double, count: Int) -> [Double] {
        let rho = 7.0
        let minInvRho = pow(sigmaMin, 1 / rho)
        let maxInvRho = pow(sigmaMax, 1 / rho)
        return NumPy.linspace(0, 1, count: count).map { ramp in
            pow(maxInvRho + ramp * (minInvRho - maxInvRho), rho)
        }
    }

    /// Log-uniform schedule from `sigmaMax` down to `sigmaMin`.
    static func exponential(sigmaMin: Double, sigmaMax: Double, count: Int) -> [Double] {
        NumPy.linspace(log(sigmaMax), log(sigmaMin), count: count).map { exp($0) }
    }

    /// The fractional training timestep whose σ is `sigma`, by linear interpolation in
    /// log σ between the two neighbouring training timesteps (`_sigma_to_t`). `logSigmas`
    /// are float32 as in diffusers, and their difference is taken in float32.
    static func timestep(forSigma sigma: Double, logSigmas: [Float]) -> Double {
        let logSigma = log(max(sigma, 1e-10))
        // The last index whose log σ is at or below the target (0 when none is).
        var low = 0
        for (i, value) in logSigmas.enumerated() where logSigma - Double(value) >= 0 { low = i }
        low = min(low, logSigmas.count - 2)
        let lowValue = logSigmas[low], highValue = logSigmas[low + 1]
        var w = (Double(lowValue) - logSigma) / Double(lowValue - highValue)
        w = min(max(w, 0), 1)
        return (1 - w) * Double(low) + w * Double(low + 1)
    }
}
