import EaselTensor

/// TAESD's encoder, as diffusers' `EncoderTiny` (`models/autoencoders/vae.py`): a plain
/// sequence, `layers.N` in `nn.Sequential` numbering — a 3x3 convolution, level 0's
/// `AutoencoderTinyBlock`s, then per further level a bias-free stride-2 convolution and its
/// blocks, and a last 3x3 convolution to the latent channels.
///
/// Images in [-1, 1] are mapped to [0, 1] first, as diffusers does; the output is the
/// latents themselves (no distribution, nothing drawn from a generator).
struct EncoderTiny: Sendable {
    enum Layer: Sendable {
        case conv(Conv2dLayer)
        case block(AutoencoderTinyBlock)
    }

    let layers: [Layer]

    init(_ weights: any WeightSource, config: AutoencoderTinyConfig) throws {
        var layers: [Layer] = []
        func scope() -> ScopedWeights { weights.scoped("layers.\(layers.count).") }
        let channels = config.encoderBlockOutChannels
        for (level, blocks) in config.numEncoderBlocks.enumerated() {
            let width = channels[level]
            if level == 0 {
                layers.append(.conv(try Conv2dLayer(scope(), input: config.inChannels, output: width, kernel: 3)))
            } else {
                layers.append(.conv(try Conv2dLayer(scope(), input: width, output: width, kernel: 3, stride: 2,
                                                    bias: false)))
            }
            for _ in 0..<blocks {
                layers.append(.block(try AutoencoderTinyBlock(scope(), input: width, output: width)))
            }
        }
        layers.append(.conv(try Conv2dLayer(scope(), input: channels[channels.count - 1],
                                            output: config.latentChannels, kernel: 3)))
        self.layers = layers
    }

    /// `[B, in, H, W]` in [-1, 1] -> `[B, latent, H / 2^(levels-1), W / 2^(levels-1)]`.
    func callAsFunction(_ image: Tensor) -> Tensor {
        var h = (image + 1) / 2
        for layer in layers {
            switch layer {
            case let .conv(conv): h = conv(h)
            case let .block(block): h = block(h)
            }
        }
        return h
    }
}
