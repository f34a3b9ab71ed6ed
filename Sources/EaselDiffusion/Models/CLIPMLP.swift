import EaselTensor

/// The feed-forward half of a CLIP encoder layer, as transformers' `CLIPMLP`:
/// `fc2(activation(fc1(x)))`, widening `hidden_size` to `intermediate_size` and back.
///
/// Weights (relative to the layer's `mlp.`): `fc1.weight` `[I, D]`, `fc1.bias` `[I]`,
/// `fc2.weight` `[D, I]`, `fc2.bias` `[D]`.
struct CLIPMLP: Sendable {
    let fc1Weight: Tensor, fc1Bias: Tensor
    let fc2Weight: Tensor, fc2Bias: Tensor
    let activation: CLIPActivation

    init(config: CLIPTextConfig, weights: any WeightSource) throws {
        let d = config.hiddenSize, i = config.intermediateSize
        fc1Weight = try weights.matrix("fc1.weight", shape: [i, d])
        fc1Bias = try weights.tensor("fc1.bias", shape: [i])
        fc2Weight = try weights.matrix("fc2.weight", shape: [d, i])
        fc2Bias = try weights.tensor("fc2.bias", shape: [d])
        activation = config.hiddenAct
    }

    /// `x`: `[B, N, D]` -> `[B, N, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let hidden = activation(Tensor.linear(x, weight: fc1Weight, bias: fc1Bias))  // [B, N, I]
        return Tensor.linear(hidden, weight: fc2Weight, bias: fc2Bias)
    }
}
