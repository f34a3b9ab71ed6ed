import EaselTensor

/// `torch.nn.Conv2d` with its weights: `weight` `[out, in, k, k]`, `bias` `[out]` (unless
/// built with `bias: false`), on NCHW. The weight is prepared for its products once, here
/// (`LayerWeight`).
struct Conv2dLayer: Sendable {
    let weight: LayerWeight
    let bias: Tensor?
    let stride: Int
    let padding: Padding2D

    /// Loads `weight` and `bias` from `weights`, scoped to the layer. `padding` defaults to
    /// `(kernel - 1) / 2` on every side ("same" size at stride 1).
    init(_ weights: any WeightSource, input: Int, output: Int, kernel: Int,
         stride: Int = 1, padding: Padding2D? = nil, bias: Bool = true) throws {
        weight = LayerWeight(convolution: try weights.matrix("weight", shape: [output, input, kernel, kernel]))
        self.bias = bias ? try weights.tensor("bias", shape: [output]) : nil
        self.stride = stride
        self.padding = padding ?? Padding2D((kernel - 1) / 2)
    }

    /// `[B, in, H, W]` -> `[B, out, Ho, Wo]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}
