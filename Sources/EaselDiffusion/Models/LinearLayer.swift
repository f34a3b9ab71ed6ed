import EaselTensor

/// `torch.nn.Linear` with its weights: `weight` `[out, in]`, optional `bias` `[out]`,
/// applied to the last axis of `[..., in]` as one sgemm over all leading rows. The weight
/// is prepared for its products once, here (`LayerWeight`).
struct LinearLayer: Sendable {
    let weight: LayerWeight
    let bias: Tensor?

    /// Loads `weight` (and `bias` unless `bias` is false) from `weights`, scoped to the layer.
    init(_ weights: any WeightSource, input: Int, output: Int, bias: Bool = true) throws {
        weight = LayerWeight(linear: try weights.matrix("weight", shape: [output, input]))
        self.bias = bias ? try weights.tensor("bias", shape: [output]) : nil
    }

    /// A 1x1 `torch.nn.Conv2d` (`weight` `[out, in, 1, 1]`) used on tokens: on `[B, H*W, C]`
    /// it computes what the convolution computes on `[B, C, H, W]`, without a layout change.
    init(pointwiseConv weights: any WeightSource, input: Int, output: Int) throws {
        weight = LayerWeight(linear: try weights.matrix("weight", shape: [output, input, 1, 1]).reshaped([output, input]))
        bias = try weights.tensor("bias", shape: [output])
    }

    /// `[..., in]` -> `[..., out]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.linear(x, weight: weight, bias: bias)
    }
}
