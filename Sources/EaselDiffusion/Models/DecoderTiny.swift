import EaselTensor
import Foundation

/// TAESD's decoder, as diffusers' `DecoderTiny` (`models/autoencoders/vae.py`): a plain
/// sequence, `layers.N` in `nn.Sequential` numbering (ReLU and upsampling hold no weights
/// but take their index) — a 3x3 convolution and ReLU, then per level its
/// `AutoencoderTinyBlock`s and, except at the last, nearest upsampling and a bias-free 3x3
/// convolution; the last level ends with a 3x3 convolution to RGB.
///
/// Latents are soft-clamped first (`tanh(x / 3) * 3`) and the output mapped from [0, 1] to
/// [-1, 1], as diffusers does.
struct DecoderTiny: Sendable {
    enum Layer: Sendable {
        case conv(Conv2dLayer)
        case block(AutoencoderTinyBlock)
        case relu
        case upsample(Int)
    }

    let layers: [Layer]

    init(_ weights: any WeightSource, config: AutoencoderTinyConfig) throws {
        var layers: [Layer] = []
        func scope() -> ScopedWeights { weights.scoped("layers.\(layers.count).") }
        let channels = config.decoderBlockOutChannels
        layers.append(.conv(try Conv2dLayer(scope(), input: config.latentChannels, output: channels[0], kernel: 3)))
        layers.append(.relu)
        for (level, blocks) in config.numDecoderBlocks.enumerated() {
            let width = channels[level]
            let isFinal = level == channels.count - 1
            for _ in 0..<blocks {
                layers.append(.block(try AutoencoderTinyBlock(scope(), input: width, output: width)))
            }
            if !isFinal { layers.append(.upsample(config.upsamplingScalingFactor)) }
            layers.append(.conv(try Conv2dLayer(scope(), input: width, output: isFinal ? config.outChannels : width,
                                                kernel: 3, bias: isFinal)))
        }
        self.layers = layers
    }

    /// `[B, latent, h, w]` -> `[B, out, h·f, w·f]`, about [-1, 1] (not clamped).
    func callAsFunction(_ latents: Tensor) -> Tensor {
        var h = latents.map { Foundation.tanh($0 / 3) * 3 }
        for layer in layers {
            switch layer {
            case let .conv(conv): h = conv(h)
            case let .block(block): h = block(h)
            case .relu: h = h.relu()
            case let .upsample(factor): h = h.upsampledNearest(factor: factor)
            }
        }
        return h * 2 - 1
    }
}
