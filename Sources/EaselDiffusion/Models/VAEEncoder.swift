import EaselTensor

/// The VAE's encoder, as diffusers' `Encoder` (`models/autoencoders/vae.py`) with
/// `double_z=True`: image `[B, 3, H, W]` -> moments `[B, 2*latent, H/8, W/8]` (mean and
/// log-variance stacked on channels), before `quant_conv`.
///
/// Weights (under `encoder.`): `conv_in`, `down_blocks.<i>`, `mid_block`,
/// `conv_norm_out`, `conv_out`.
struct VAEEncoder: Sendable {
    let convIn: Conv2dLayer
    let downBlocks: [DownEncoderBlock2D]
    let midBlock: UNetMidBlock2D
    let convNormOut: GroupNormLayer
    let convOut: Conv2dLayer

    init(_ weights: any WeightSource, config: AutoencoderKLConfig) throws {
        let channels = config.blockOutChannels, groups = config.normNumGroups
        convIn = try Conv2dLayer(weights.scoped("conv_in."), input: config.inChannels, output: channels[0], kernel: 3)
        downBlocks = try channels.indices.map { i in
            try DownEncoderBlock2D(weights.scoped("down_blocks.\(i)."), inChannels: i == 0 ? channels[0] : channels[i - 1],
                                   outChannels: channels[i], layers: config.layersPerBlock, groups: groups,
                                   addDownsample: i != channels.count - 1)
        }
        let deepest = channels[channels.count - 1]
        midBlock = try UNetMidBlock2D(weights.scoped("mid_block."), channels: deepest, groups: groups,
                                      addAttention: config.midBlockAddAttention)
        convNormOut = try GroupNormLayer(weights.scoped("conv_norm_out."), groups: groups, channels: deepest, epsilon: 1e-6)
        convOut = try Conv2dLayer(weights.scoped("conv_out."), input: deepest, output: 2 * config.latentChannels, kernel: 3)
    }

    /// `[B, in, H, W]` -> `[B, 2*latent, H/f, W/f]`.
    func callAsFunction(_ image: Tensor) -> Tensor {
        var h = convIn(image)
        for block in downBlocks { h = block(h) }
        h = midBlock(h)
        return convOut(convNormOut(h, silu: true))
    }
}
