import EaselTensor

/// The VAE's middle, as diffusers' `UNetMidBlock2D` as the VAE's `Encoder` and `Decoder`
/// build it: a resnet, then one single-head spatial self-attention over the `H*W` pixels
/// (channels as features, its own group norm, residual) and another resnet. No time
/// embedding; norms use epsilon 1e-6.
///
/// Weights (relative to `mid_block.`): `resnets.0`, `attentions.0` (`group_norm`, `to_q`,
/// `to_k`, `to_v`, `to_out.0`, with biases), `resnets.1`.
struct UNetMidBlock2D: Sendable {
    let firstResnet: ResnetBlock2D
    let attention: Attention?
    let secondResnet: ResnetBlock2D

    init(_ weights: any WeightSource, channels: Int, groups: Int, addAttention: Bool) throws {
        let epsilon = 1e-6
        firstResnet = try ResnetBlock2D(weights.scoped("resnets.0."), inChannels: channels, outChannels: channels,
                                        timeEmbeddingChannels: nil, groups: groups, epsilon: epsilon)
        // `attention_head_dim = channels`: one head as wide as the image has channels.
        attention = addAttention
            ? try Attention(weights.scoped("attentions.0."), queryDim: channels, heads: 1, headDim: channels,
                            bias: true, normGroups: groups, normEpsilon: epsilon)
            : nil
        secondResnet = try ResnetBlock2D(weights.scoped("resnets.1."), inChannels: channels, outChannels: channels,
                                         timeEmbeddingChannels: nil, groups: groups, epsilon: epsilon)
    }

    /// `[B, C, H, W]` -> same.
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = firstResnet(x)
        if let attention { h = attention.spatial(h) }
        return secondResnet(h)
    }
}
