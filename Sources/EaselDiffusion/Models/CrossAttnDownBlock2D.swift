import EaselTensor

/// A down block with attention, as diffusers' `CrossAttnDownBlock2D`: `layers` pairs of
/// (`ResnetBlock2D`, `Transformer2DModel`), then a stride-2 `Downsample2D` except in the
/// deepest block. Every pair's output, and the downsampled one, is kept for the up path.
///
/// Weights (relative to `down_blocks.<i>.`): `resnets.<j>`, `attentions.<j>`,
/// `downsamplers.0`.
struct CrossAttnDownBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let downsampler: Downsample2D?

    init(_ weights: any WeightSource, options: UNetBlockOptions, inChannels: Int, outChannels: Int, layers: Int,
         transformerLayers: Int, heads: Int, crossAttentionDim: Int, addDownsample: Bool, downsamplePadding: Int) throws {
        resnets = try (0..<layers).map { j in
            try options.resnet(weights.scoped("resnets.\(j)."), in: j == 0 ? inChannels : outChannels, out: outChannels)
        }
        attentions = try (0..<layers).map { j in
            try options.transformer(weights.scoped("attentions.\(j)."), channels: outChannels, heads: heads,
                                    layers: transformerLayers, crossAttentionDim: crossAttentionDim)
        }
        downsampler = addDownsample
            ? try Downsample2D(weights.scoped("downsamplers.0."), channels: outChannels, padding: downsamplePadding)
            : nil
    }

    /// `x` `[B, Cin, H, W]` -> (`[B, Cout, H', W']`, the skip connections in order).
    func callAsFunction(_ x: Tensor, temb: Tensor, context: CrossAttentionContext) -> (Tensor, [Tensor]) {
        var h = x
        var skips: [Tensor] = []
        for (resnet, attention) in zip(resnets, attentions) {
            h = attention(resnet(h, temb: temb), context: context)
            skips.append(h)
        }
        if let downsampler {
            h = downsampler(h)
            skips.append(h)
        }
        return (h, skips)
    }
}
