import EaselTensor

/// One transformer layer of Stable Diffusion's UNet, as diffusers' `BasicTransformerBlock`
/// (`models/attention.py`) with `norm_type="layer_norm"`, GEGLU, no attention bias:
///
///     h = h + attn1(norm1(h))                 self-attention
///     h = h + attn2(norm2(h), context)        cross-attention to the text embeddings
///     h = h + ff(norm3(h))
///
/// Layer norms use epsilon 1e-5 (`Transformer2DModel`'s default `norm_eps`).
/// Weights (relative to `transformer_blocks.<i>.`): `norm1..3`, `attn1`, `attn2`, `ff`.
struct BasicTransformerBlock: Sendable {
    let norm1: LayerNormLayer, attn1: Attention
    let norm2: LayerNormLayer, attn2: Attention
    let norm3: LayerNormLayer, ff: FeedForward

    init(_ weights: any WeightSource, dim: Int, heads: Int, headDim: Int, crossAttentionDim: Int) throws {
        norm1 = try LayerNormLayer(weights.scoped("norm1."), dimension: dim, epsilon: 1e-5)
        attn1 = try Attention(weights.scoped("attn1."), queryDim: dim, heads: heads, headDim: headDim)
        norm2 = try LayerNormLayer(weights.scoped("norm2."), dimension: dim, epsilon: 1e-5)
        attn2 = try Attention(weights.scoped("attn2."), queryDim: dim, crossAttentionDim: crossAttentionDim,
                              heads: heads, headDim: headDim)
        norm3 = try LayerNormLayer(weights.scoped("norm3."), dimension: dim, epsilon: 1e-5)
        ff = try FeedForward(weights.scoped("ff."), dim: dim)
    }

    /// Updates `h` `[B, N, D]` in place, attending to `context` `[B, M, Dc]` (in place so
    /// the residual stream is never copied).
    func callAsFunction(_ h: inout Tensor, context: CrossAttentionContext) {
        h += attn1(norm1(h))
        h += attn2(norm2(h), context: context)
        h += ff(norm3(h))
    }
}
