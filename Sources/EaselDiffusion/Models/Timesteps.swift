import EaselTensor
import Foundation

/// The sinusoidal timestep embedding, as diffusers' `Timesteps` module
/// (`get_timestep_embedding` in `models/embeddings.py`), which has no weights.
///
/// Frequency `i` of `half = channels / 2` is `exp(-ln(max_period) * i / (half - shift))`;
/// the embedding is `[sin(t f), cos(t f)]`, or `[cos, sin]` with `flipSinToCos`, zero-padded
/// when `channels` is odd. Computed in float32 step by step as PyTorch does, so the
/// rounding of `t * f` (t near 1000) is the same.
struct Timesteps: Sendable {
    let channels: Int
    let flipSinToCos: Bool
    /// `exp(exponent)` per frequency, in float32.
    let frequencies: [Float]

    init(channels: Int, flipSinToCos: Bool, downscaleFreqShift: Double, maxPeriod: Double = 10_000) {
        self.channels = channels
        self.flipSinToCos = flipSinToCos
        let half = channels / 2
        // torch: (-log(max_period) * arange(half, float32)) / (half - shift), then exp, all float32.
        let logPeriod = Float(-log(maxPeriod))
        let denominator = Float(Double(half) - downscaleFreqShift)
        frequencies = (0..<half).map { i in exp(logPeriod * Float(i) / denominator) }
    }

    /// One timestep per batch element -> `[B, channels]`.
    func callAsFunction(_ timesteps: [Float]) -> Tensor {
        let half = frequencies.count
        var rows: [Float] = []
        rows.reserveCapacity(timesteps.count * channels)
        for t in timesteps {
            let arguments = frequencies.map { t * $0 }
            let sines = arguments.map { sin($0) }, cosines = arguments.map { cos($0) }
            rows += flipSinToCos ? cosines + sines : sines + cosines
            if channels > 2 * half { rows.append(0) }
        }
        return Tensor(shape: [timesteps.count, channels], scalars: rows)
    }
}
