import EaselTensor

/// One pre-norm transformer layer of CLIP's encoder, as transformers' `CLIPEncoderLayer`:
/// `x + self_attn(layer_norm1(x))`, then `x + mlp(layer_norm2(x))`.
///
/// Weights (relative to `encoder.layers.<i>.`): `layer_norm1.{weight,bias}`,
/// `self_attn.*` (see `CLIPAttention`), `layer_norm2.{weight,bias}`, `mlp.*` (see `CLIPMLP`).
struct CLIPEncoderLayer: Sendable {
    let norm1Weight: Tensor, norm1Bias: Tensor
    let selfAttention: CLIPAttention
    let norm2Weight: Tensor, norm2Bias: Tensor
    let mlp: CLIPMLP
    let epsilon: Float

    init(config: CLIPTextConfig, weights: any WeightSource) throws {
        let d = config.hiddenSize
        norm1Weight = try weights.tensor("layer_norm1.weight", shape: [d])
        norm1Bias = try weights.tensor("layer_norm1.bias", shape: [d])
        selfAttention = try CLIPAttention(config: config, weights: weights.scoped("self_attn."))
        norm2Weight = try weights.tensor("layer_norm2.weight", shape: [d])
        norm2Bias = try weights.tensor("layer_norm2.bias", shape: [d])
        mlp = try CLIPMLP(config: config, weights: weights.scoped("mlp."))
        epsilon = config.layerNormEps
    }

    /// `x`: `[B, N, D]` -> `[B, N, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x + selfAttention(x.layerNorm(weight: norm1Weight, bias: norm1Bias, epsilon: epsilon))
        h += mlp(h.layerNorm(weight: norm2Weight, bias: norm2Bias, epsilon: epsilon))
        return h
    }
}
