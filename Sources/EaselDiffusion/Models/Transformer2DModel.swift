import EaselTensor

/// The spatial transformer of Stable Diffusion's UNet, as diffusers' `Transformer2DModel`
/// (`models/transformers/transformer_2d.py`) for continuous inputs:
///
///     tokens = proj_in(group_norm(x))   as [B, H*W, inner]
///     tokens = transformer_blocks(tokens, context)
///     x + proj_out(tokens)              back as [B, C, H, W]
///
/// `proj_in`/`proj_out` are linear layers (`use_linear_projection`, SD 2.x) or 1x1 convs
/// (SD 1.x). A 1x1 conv before the permute equals a linear layer after it, so both run as
/// one sgemm on tokens: the image is permuted to tokens once on the way in and back once on
/// the way out. The group norm has epsilon 1e-6, whatever the UNet's `norm_eps`.
///
/// Weights (relative to `attentions.<i>.`): `norm`, `proj_in`, `transformer_blocks.<j>`,
/// `proj_out`.
struct Transformer2DModel: Sendable {
    let norm: GroupNormLayer
    let projIn: LinearLayer
    let blocks: [BasicTransformerBlock]
    let projOut: LinearLayer

    init(_ weights: any WeightSource, heads: Int, headDim: Int, channels: Int, layers: Int,
         crossAttentionDim: Int, groups: Int, useLinearProjection: Bool) throws {
        let inner = heads * headDim
        norm = try GroupNormLayer(weights.scoped("norm."), groups: groups, channels: channels, epsilon: 1e-6)
        if useLinearProjection {
            projIn = try LinearLayer(weights.scoped("proj_in."), input: channels, output: inner)
            projOut = try LinearLayer(weights.scoped("proj_out."), input: inner, output: channels)
        } else {
            projIn = try LinearLayer(pointwiseConv: weights.scoped("proj_in."), input: channels, output: inner)
            projOut = try LinearLayer(pointwiseConv: weights.scoped("proj_out."), input: inner, output: channels)
        }
        blocks = try (0..<layers).map { j in
            try BasicTransformerBlock(weights.scoped("transformer_blocks.\(j)."), dim: inner, heads: heads,
                                      headDim: headDim, crossAttentionDim: crossAttentionDim)
        }
    }

    /// `x` `[B, C, H, W]`, `context` `[B, M, Dc]` -> `[B, C, H, W]`.
    func callAsFunction(_ x: Tensor, context: CrossAttentionContext) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let tokens = norm(x).reshaped([batch, channels, height * width]).transposed(1, 2)  // [B, HW, C]
        var h = projIn(tokens)                                                            // [B, HW, inner]
        for block in blocks { block(&h, context: context) }
        var out = projOut(h).transposed(1, 2).reshaped([batch, channels, height, width])
        out += x
        return out
    }
}
