import EaselTensor

/// TAESD's residual block, as diffusers' `AutoencoderTinyBlock`
/// (`models/unets/unet_2d_blocks.py`): `relu(conv(x) + skip(x))`, where `conv` is three 3x3
/// convolutions with ReLU between them and `skip` a bias-free 1x1 convolution when the
/// channel count changes (the identity otherwise).
///
/// Weights (relative to the block): `conv.0.`, `conv.2.`, `conv.4.` (`weight`, `bias`), and
/// `skip.weight` `[out, in, 1, 1]` when `in != out`.
struct AutoencoderTinyBlock: Sendable {
    let conv1: Conv2dLayer
    let conv2: Conv2dLayer
    let conv3: Conv2dLayer
    let skip: Conv2dLayer?

    init(_ weights: any WeightSource, input: Int, output: Int) throws {
        conv1 = try Conv2dLayer(weights.scoped("conv.0."), input: input, output: output, kernel: 3)
        conv2 = try Conv2dLayer(weights.scoped("conv.2."), input: output, output: output, kernel: 3)
        conv3 = try Conv2dLayer(weights.scoped("conv.4."), input: output, output: output, kernel: 3)
        skip = input == output ? nil
            : try Conv2dLayer(weights.scoped("skip."), input: input, output: output, kernel: 1, bias: false)
    }

    /// `[B, in, H, W]` -> `[B, out, H, W]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = conv3(conv2(conv1(x).relu()).relu())
        return (h + (skip.map { $0(x) } ?? x)).relu()
    }
}

extension Tensor {
    /// `max(x, 0)`.
    func relu() -> Tensor { clamped(to: 0...Float.greatestFiniteMagnitude) }
}
