import EaselDiffusion
import Foundation

/// Learns how fast this machine denoises, from measured step times, to estimate how long
/// a job will take before it starts. The unit is seconds per step per megapixel-image
/// (cost grows with pixels and images); a moving average follows the recent jobs.
public final class ThroughputEstimator: Sendable {
    private let rate = Locked<Double?>(nil)
    private let smoothing = 0.3

    public init() {}

    /// Feeds one job's measured mean step time.
    public func record(secondsPerStep: Double, parameters: GenerationRequest) {
        let units = Self.units(parameters)
        guard secondsPerStep.isFinite, secondsPerStep >= 0, units > 0 else { return }
        let sample = secondsPerStep / units
        rate.withLock { rate in
            rate = rate.map { $0 + smoothing * (sample - $0) } ?? sample
        }
    }

    /// Estimated seconds per step for a job of this size, once anything was measured.
    public func secondsPerStep(for parameters: GenerationRequest) -> Double? {
        rate.current.map { $0 * Self.units(parameters) }
    }

    /// Estimated seconds to run a whole job of this size.
    public func secondsPerJob(_ parameters: GenerationRequest) -> Double? {
        secondsPerStep(for: parameters).map { $0 * Double(parameters.steps) }
    }

    static func units(_ p: GenerationRequest) -> Double {
        Double(p.width * p.height * p.count) / 1_000_000
    }
}
