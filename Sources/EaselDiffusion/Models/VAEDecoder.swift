import EaselTensor

/// The VAE's decoder, as diffusers' `Decoder` (`models/autoencoders/vae.py`) with group
/// norms: latents `[B, latent, h, w]` (after `post_quant_conv`) -> image `[B, 3, 8h, 8w]`
/// in about [-1, 1].
///
/// Weights (under `decoder.`): `conv_in`, `mid_block`, `up_blocks.<i>` (deepest first,
/// `layers_per_block + 1` resnets each), `conv_norm_out`, `conv_out`.
struct VAEDecoder: Sendable {
    let convIn: Conv2dLayer
    let midBlock: UNetMidBlock2D
    let upBlocks: [UpDecoderBlock2D]
    let convNormOut: GroupNormLayer
    let convOut: Conv2dLayer

    init(_ weights: any WeightSource, config: AutoencoderKLConfig) throws {
        let reversed = Array(config.blockOutChannels.reversed()), groups = config.normNumGroups
        convIn = try Conv2dLayer(weights.scoped("conv_in."), input: config.latentChannels, output: reversed[0], kernel: 3)
        midBlock = try UNetMidBlock2D(weights.scoped("mid_block."), channels: reversed[0], groups: groups,
                                      addAttention: config.midBlockAddAttention)
        upBlocks = try reversed.indices.map { i in
            try UpDecoderBlock2D(weights.scoped("up_blocks.\(i)."), inChannels: reversed[max(i - 1, 0)],
                                 outChannels: reversed[i], layers: config.layersPerBlock + 1, groups: groups,
                                 addUpsample: i != reversed.count - 1)
        }
        let first = config.blockOutChannels[0]
        convNormOut = try GroupNormLayer(weights.scoped("conv_norm_out."), groups: groups, channels: first, epsilon: 1e-6)
        convOut = try Conv2dLayer(weights.scoped("conv_out."), input: first, output: config.outChannels, kernel: 3)
    }

    /// `[B, latent, h, w]` -> `[B, out, h*f, w*f]`.
    func callAsFunction(_ z: Tensor) -> Tensor {
        var h = midBlock(convIn(z))
        for block in upBlocks {
            h = block(h)
            // Each block doubles the resolution: the buffers recycled at the one before (half
            // or a quarter of the size of the next block's, which at 512 x 512 are hundreds of
            // megabytes each) become spare, for the next block's larger ones to be made from
            // rather than beside them (BufferPool).
            TensorStorage.retireCachedBuffers()
        }
        return convOut(convNormOut(h, silu: true))
    }
}
