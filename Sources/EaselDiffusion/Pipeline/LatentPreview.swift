import EaselTensor
import Foundation

/// Live previews of a run: every `every` steps (not after the last, whose image follows at
/// once) `deliver` gets a small picture of the first image of the batch.
public struct PreviewOptions: Sendable {
    public var every: Int
    public var deliver: @Sendable (_ step: Int, _ image: RGBImage) -> Void

    public init(every: Int, deliver: @escaping @Sendable (_ step: Int, _ image: RGBImage) -> Void) {
        self.every = max(1, every)
        self.deliver = deliver
    }

    /// About ten previews a run, none for a run of one step.
    public static func every(ofSteps steps: Int) -> Int { max(1, steps / 10) }
}

/// Draws the run's current estimate of the clean latents x̂₀ (from the step's model input
/// and prediction: x̂₀ = (x − √(1−ᾱ)·ε) / √ᾱ, or √ᾱ·x − √(1−ᾱ)·v), decoded with the tiny
/// autoencoder when the pipeline has one (from latents averaged 2x2 when they are 64 or more
/// on a side: a 256x256 picture of a 512x512 image at a quarter of the decode), else projected to RGB by a fixed
/// linear map of the four SD latent channels (latent size: an eighth of the image's side),
/// the cheap approximation previewers use (ComfyUI's `latent_rgb_factors` for SD 1.x/2.x and
/// for SDXL, whose VAE's latents differ).
struct LatentPreviewer {
    /// A linear map of SD's four latent channels (scaled, as the UNet sees them) to RGB in
    /// [-1, 1]: row c of `factors` is channel c's contribution to R, G, B.
    struct Palette: Equatable {
        var factors: [[Float]]
        var bias: [Float]

        static let sd = Palette(factors: [
            [0.3512, 0.2297, 0.3227],
            [0.3250, 0.4974, 0.2350],
            [-0.2829, 0.1762, 0.2721],
            [-0.2120, -0.2616, -0.7177],
        ], bias: [0, 0, 0])

        static let sdxl = Palette(factors: [
            [0.3651, 0.4232, 0.4341],
            [-0.2533, -0.0042, 0.1068],
            [0.1076, 0.1111, -0.0362],
            [-0.3165, -0.2492, -0.2188],
        ], bias: [0.1084, -0.0175, -0.0011])

        /// SDXL's for SDXL models (its VAE's latents), SD 1.x/2.x's otherwise.
        static func of(_ model: StableDiffusionModel) -> Palette {
            model.conditioner is SDXLTextConditioner ? .sdxl : .sd
        }
    }

    let alphasCumprod: [Float]?
    let tinyAutoencoder: AutoencoderTiny?
    let palette: Palette

    init(configuration: SchedulerConfiguration, tinyAutoencoder: AutoencoderTiny?, palette: Palette = .sd) {
        alphasCumprod = try? TrainingNoiseSchedule(configuration, defaults: SchedulerDefaults(timestepSpacing: "leading"),
                                                   scheduler: "preview").alphasCumprod
        self.tinyAutoencoder = tinyAutoencoder
        self.palette = palette
    }

    /// The picture of `loop`'s last step (nil before its first).
    func image(of loop: DenoisingLoop) -> RGBImage? {
        guard let input = loop.lastModelInput, let prediction = loop.lastPrediction, let t = loop.lastTimestep else {
            return nil
        }
        let x = input.chunked(input.shape[0], axis: 0)[0]  // the first image: [1, C, h, w]
        let output = prediction.chunked(prediction.shape[0], axis: 0)[0]
        var estimate = x
        if let bars = alphasCumprod, !bars.isEmpty {
            let a = bars[min(max(Int(t.rounded()), 0), bars.count - 1)]
            let (signal, noise) = (a.squareRoot(), (1 - a).squareRoot())
            switch loop.scheduler.predictionType {
            case .epsilon: estimate = (x - output * noise) / signal
            case .vPrediction: estimate = x * signal - output * noise
            case .sample: estimate = output
            }
        }
        if let tiny = tinyAutoencoder {
            let small = Self.halvedWhenLarge(estimate)
            return RGBImage.batch(fromDecoded: tiny.decode(small / Float(tiny.config.scalingFactor)))[0]
        }
        return Self.project(estimate, palette: palette)
    }

    /// Latents `[1, C, h, w]` averaged over 2x2 cells when both sides are at least 64 (and
    /// even), else as they are.
    static func halvedWhenLarge(_ latents: Tensor) -> Tensor {
        let (channels, h, w) = (latents.shape[1], latents.shape[2], latents.shape[3])
        guard h >= 64, w >= 64, h % 2 == 0, w % 2 == 0 else { return latents }
        let (oh, ow) = (h / 2, w / 2)
        var out = [Float](repeating: 0, count: channels * oh * ow)
        latents.withUnsafeBufferPointer { src in
            for c in 0..<channels {
                for y in 0..<oh {
                    for x in 0..<ow {
                        let i = c * h * w + 2 * y * w + 2 * x
                        out[(c * oh + y) * ow + x] = (src[i] + src[i + 1] + src[i + w] + src[i + w + 1]) * 0.25
                    }
                }
            }
        }
        return Tensor(shape: [1, channels, oh, ow], scalars: out)
    }

    /// The linear RGB projection of latents `[1, C, h, w]` (the mean of the channels, grey,
    /// for latents that are not SD's four).
    static func project(_ latents: Tensor, palette: Palette) -> RGBImage {
        let (channels, h, w) = (latents.shape[1], latents.shape[2], latents.shape[3])
        let plane = h * w
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        latents.withUnsafeBufferPointer { src in
            for i in 0..<plane {
                for rgb in 0..<3 {
                    var value: Float = channels == 4 ? palette.bias[rgb] : 0
                    for c in 0..<channels {
                        value += src[c * plane + i] * (channels == 4 ? palette.factors[c][rgb] : 1 / Float(channels))
                    }
                    pixels[i * 3 + rgb] = UInt8((min(max(value * 0.5 + 0.5, 0), 1) * 255).rounded())
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}
