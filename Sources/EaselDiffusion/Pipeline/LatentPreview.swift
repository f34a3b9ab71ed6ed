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
/// autoencoder when the pipeline has one (full size), else projected to RGB by a fixed
/// linear map of the four SD latent channels (latent size: an eighth of the image's side),
/// the cheap approximation previewers use (ComfyUI's `latent_rgb_factors` for SD 1.x/2.x).
struct LatentPreviewer {
    /// SD 1.x/2.x latents (scaled, as the UNet sees them) to RGB in [-1, 1]: row c is
    /// channel c's contribution to R, G, B.
    static let rgbFactors: [[Float]] = [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]

    let alphasCumprod: [Float]?
    let tinyAutoencoder: AutoencoderTiny?

    init(configuration: SchedulerConfiguration, tinyAutoencoder: AutoencoderTiny?) {
        alphasCumprod = try? TrainingNoiseSchedule(configuration, defaults: SchedulerDefaults(timestepSpacing: "leading"),
                                                   scheduler: "preview").alphasCumprod
        self.tinyAutoencoder = tinyAutoencoder
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
            return RGBImage.batch(fromDecoded: tiny.decode(estimate / Float(tiny.config.scalingFactor)))[0]
        }
        return Self.project(estimate)
    }

    /// The linear RGB projection of latents `[1, C, h, w]` (the mean of the channels, grey,
    /// for latents that are not SD's four).
    static func project(_ latents: Tensor) -> RGBImage {
        let (channels, h, w) = (latents.shape[1], latents.shape[2], latents.shape[3])
        let plane = h * w
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        latents.withUnsafeBufferPointer { src in
            for i in 0..<plane {
                for rgb in 0..<3 {
                    var value: Float = 0
                    for c in 0..<channels {
                        value += src[c * plane + i] * (channels == 4 ? rgbFactors[c][rgb] : 1 / Float(channels))
                    }
                    pixels[i * 3 + rgb] = UInt8((min(max(value * 0.5 + 0.5, 0), 1) * 255).rounded())
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}
