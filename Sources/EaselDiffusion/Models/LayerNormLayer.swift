import EaselTensor

/// `torch.nn.LayerNorm` over the last axis, with its weights `weight`, `bias` `[D]`.
struct LayerNormLayer: Sendable {
    let epsilon: Float
    let weight: Tensor
    let bias: Tensor

    init(_ weights: any WeightSource, dimension: Int, epsilon: Double) throws {
        self.epsilon = Float(epsilon)
        weight = try weights.tensor("weight", shape: [dimension])
        bias = try weights.tensor("bias", shape: [dimension])
    }

    /// `[..., D]` -> same.
    func callAsFunction(_ x: Tensor) -> Tensor {
        x.layerNorm(weight: weight, bias: bias, epsilon: epsilon)
    }
}
