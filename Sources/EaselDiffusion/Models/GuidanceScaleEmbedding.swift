import EaselTensor
import Foundation

/// The guidance scale as a guidance-distilled UNet (LCM) takes it: diffusers'
/// `get_guidance_scale_embedding` (`LatentConsistencyModelPipeline`, after VDM), the
/// sinusoidal embedding of `w * 1000` with `[sin, cos]` halves and frequencies
/// `exp(-i * ln(10000) / (half - 1))`, zero-padded when `dimension` is odd.
///
/// Computed in float32 step by step as PyTorch does (`w * 1000` rounded to float first), so
/// the arguments of sin and cos, in the thousands, round the same way.
enum GuidanceScaleEmbedding {
    /// One row per entry of `w` -> `[w.count, dimension]`. The pipeline passes
    /// `w = guidance_scale - 1`.
    static func embedding(_ w: [Float], dimension: Int) -> Tensor {
        let half = dimension / 2
        // torch.log(torch.tensor(10000.0)) / (half - 1), in float32.
        let step = Float(Foundation.log(Float(10_000))) / Float(half - 1)
        let frequencies = (0..<half).map { Foundation.exp(Float($0) * -step) }
        var rows: [Float] = []
        rows.reserveCapacity(w.count * dimension)
        for value in w {
            let scaled = value * 1000
            let arguments = frequencies.map { scaled * $0 }
            rows += arguments.map { Foundation.sin($0) }
            rows += arguments.map { Foundation.cos($0) }
            if dimension > 2 * half { rows.append(0) }
        }
        return Tensor(shape: [w.count, dimension], scalars: rows)
    }
}
