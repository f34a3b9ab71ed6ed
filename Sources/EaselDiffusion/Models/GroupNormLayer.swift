import EaselTensor

/// `torch.nn.GroupNorm` (affine) with its weights `weight`, `bias` `[C]`, on `[B, C, ...]`.
struct GroupNormLayer: Sendable {
    let groups: Int
    let epsilon: Float
    let weight: Tensor
    let bias: Tensor

    init(_ weights: any WeightSource, groups: Int, channels: Int, epsilon: Double) throws {
        self.groups = groups
        // PyTorch keeps eps as a double and adds it to a float variance: the float nearest.
        self.epsilon = Float(epsilon)
        weight = try weights.tensor("weight", shape: [channels])
        bias = try weights.tensor("bias", shape: [channels])
    }

    /// Normalises `x`; with `silu`, applies SiLU in the same pass (norm then activation,
    /// as every resnet and every output head does).
    func callAsFunction(_ x: Tensor, silu: Bool = false) -> Tensor {
        x.groupNorm(groups: groups, weight: weight, bias: bias, epsilon: epsilon, fusingSiLU: silu)
    }
}
