import EaselTensor

/// The UNet's middle, as diffusers' `UNetMidBlock2DCrossAttn`: a resnet, then for each
/// layer a `Transformer2DModel` and another resnet, all at the deepest resolution. The
/// resnets divide their output by `mid_block_scale_factor`.
///
/// Weights (relative to `mid_block.`): `resnets.0..n`, `attentions.0..<n`.
struct UNetMidBlock2DCrossAttn: Sendable {
    let firstResnet: ResnetBlock2D
    let layers: [(attention: Transformer2DModel, resnet: ResnetBlock2D)]

    init(_ weights: any WeightSource, options: UNetBlockOptions, channels: Int, transformerLayers: Int,
         heads: Int, crossAttentionDim: Int, outputScaleFactor: Double, layers count: Int = 1) throws {
        firstResnet = try options.resnet(weights.scoped("resnets.0."), in: channels, out: channels,
                                         outputScaleFactor: outputScaleFactor)
        layers = try (0..<count).map { j in
            (try options.transformer(weights.scoped("attentions.\(j)."), channels: channels, heads: heads,
                                     layers: transformerLayers, crossAttentionDim: crossAttentionDim),
             try options.resnet(weights.scoped("resnets.\(j + 1)."), in: channels, out: channels,
                                outputScaleFactor: outputScaleFactor))
        }
    }

    /// `[B, C, H, W]` -> same.
    func callAsFunction(_ x: Tensor, temb: Tensor, context: CrossAttentionContext) -> Tensor {
        var h = firstResnet(x, temb: temb)
        for layer in layers {
            h = layer.resnet(layer.attention(h, context: context), temb: temb)
        }
        return h
    }
}
