import EaselTensor

/// CLIP's multi-head self-attention, as transformers' `CLIPAttention` in the text model:
/// causal (each token sees itself and the tokens before it), `num_attention_heads` heads of
/// `hidden_size / num_attention_heads`, scores scaled by `1 / sqrt(head_dim)`.
///
/// Weights (relative to the layer's `self_attn.`): `q_proj`, `k_proj`, `v_proj`, `out_proj`,
/// each `.weight` `[D, D]` and `.bias` `[D]`.
struct CLIPAttention: Sendable {
    let qWeight: Tensor, qBias: Tensor
    let kWeight: Tensor, kBias: Tensor
    let vWeight: Tensor, vBias: Tensor
    let outWeight: Tensor, outBias: Tensor
    let heads: Int
    let scale: Float

    init(config: CLIPTextConfig, weights: any WeightSource) throws {
        let d = config.hiddenSize
        func linear(_ name: String) throws -> (Tensor, Tensor) {
            (try weights.matrix("\(name).weight", shape: [d, d]), try weights.tensor("\(name).bias", shape: [d]))
        }
        (qWeight, qBias) = try linear("q_proj")
        (kWeight, kBias) = try linear("k_proj")
        (vWeight, vBias) = try linear("v_proj")
        (outWeight, outBias) = try linear("out_proj")
        heads = config.numAttentionHeads
        // transformers computes `head_dim ** -0.5` in double and the kernel uses it as float.
        scale = Float(1 / Double(config.headDim).squareRoot())
    }

    /// `x`: `[B, N, D]` -> `[B, N, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let q = Tensor.linear(x, weight: qWeight, bias: qBias)  // [B, N, H*Dh]
        let k = Tensor.linear(x, weight: kWeight, bias: kBias)
        let v = Tensor.linear(x, weight: vWeight, bias: vBias)
        let attended = Tensor.attention(query: q, key: k, value: v, heads: heads, scale: scale, causal: true)
        return Tensor.linear(attended, weight: outWeight, bias: outBias)
    }
}
