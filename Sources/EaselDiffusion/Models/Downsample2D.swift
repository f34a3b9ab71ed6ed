import EaselTensor

/// Halving of the resolution, as diffusers' `Downsample2D` with `use_conv=True`: a 3x3
/// convolution at stride 2. With `padding` 0 (the VAE encoder) the image is padded by one
/// pixel on the bottom and right only, as diffusers' `F.pad(x, (0, 1, 0, 1))` does.
///
/// Weights (relative to `downsamplers.0.`): `conv.weight` `[C, C, 3, 3]`, `conv.bias`.
struct Downsample2D: Sendable {
    let conv: Conv2dLayer

    init(_ weights: any WeightSource, channels: Int, padding: Int) throws {
        let pad = padding == 0 ? Padding2D(top: 0, left: 0, bottom: 1, right: 1) : Padding2D(padding)
        conv = try Conv2dLayer(weights.scoped("conv."), input: channels, output: channels, kernel: 3,
                               stride: 2, padding: pad)
    }

    /// `[B, C, H, W]` -> `[B, C, Ho, Wo]` (`Ho = (H + 2p - 3) / 2 + 1`).
    func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}
