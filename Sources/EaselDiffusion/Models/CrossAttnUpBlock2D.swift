import EaselTensor

/// An up block with attention, as diffusers' `CrossAttnUpBlock2D`: like `UpBlock2D`, with a
/// `Transformer2DModel` after each resnet.
///
/// Weights (relative to `up_blocks.<i>.`): `resnets.<j>`, `attentions.<j>`, `upsamplers.0`.
struct CrossAttnUpBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let upsampler: Upsample2D?

    init(_ weights: any WeightSource, options: UNetBlockOptions, inChannels: Int, prevOutputChannels: Int,
         outChannels: Int, layers: Int, transformerLayers: Int, heads: Int, crossAttentionDim: Int,
         addUpsample: Bool) throws {
        resnets = try (0..<layers).map { j in
            let skipChannels = j == layers - 1 ? inChannels : outChannels
            let resnetIn = j == 0 ? prevOutputChannels : outChannels
            return try options.resnet(weights.scoped("resnets.\(j)."), in: resnetIn + skipChannels, out: outChannels)
        }
        attentions = try (0..<layers).map { j in
            try options.transformer(weights.scoped("attentions.\(j)."), channels: outChannels, heads: heads,
                                    layers: transformerLayers, crossAttentionDim: crossAttentionDim)
        }
        upsampler = addUpsample ? try Upsample2D(weights.scoped("upsamplers.0."), channels: outChannels) : nil
    }

    /// Number of skip connections the block consumes.
    var skipCount: Int { resnets.count }

    /// `x` `[B, C, H, W]`, `skips` in down-path order (the last is used first).
    func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor, context: CrossAttentionContext,
                        upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "CrossAttnUpBlock2D needs \(resnets.count) skip connections, got \(skips.count)")
        var h = x
        for ((resnet, attention), skip) in zip(zip(resnets, attentions), skips.reversed()) {
            h = attention(resnet(Tensor.concatenate([h, skip], axis: 1), temb: temb), context: context)
        }
        return upsampler.map { $0(h, outputSize: upsampleSize) } ?? h
    }
}
