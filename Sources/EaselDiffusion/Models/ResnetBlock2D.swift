import EaselTensor

/// The residual block of the UNet and the VAE, as diffusers' `ResnetBlock2D`
/// (`models/resnet.py`) with `time_embedding_norm="default"` and SiLU:
///
///     h = conv1(silu(norm1(x)))
///     h = h + time_emb_proj(silu(temb))        (UNet only; the VAE has no time embedding)
///     h = conv2(silu(norm2(h)))
///     (shortcut(x) + h) / output_scale_factor  shortcut = 1x1 conv when channels change
///
/// Each norm and its SiLU run as one fused pass over NCHW.
/// Weights (relative to `resnets.<i>.`): `norm1`, `conv1` (3x3), `time_emb_proj`,
/// `norm2`, `conv2` (3x3), and `conv_shortcut` (1x1) when `in != out`.
struct ResnetBlock2D: Sendable {
    let norm1: GroupNormLayer
    let conv1: Conv2dLayer
    let timeEmbProj: LinearLayer?
    let norm2: GroupNormLayer
    let conv2: Conv2dLayer
    let convShortcut: Conv2dLayer?
    let outputScaleFactor: Float

    /// - `timeEmbeddingChannels`: width of `temb`, or nil for a block without one (VAE).
    init(_ weights: any WeightSource, inChannels: Int, outChannels: Int, timeEmbeddingChannels: Int?,
         groups: Int, epsilon: Double, outputScaleFactor: Double = 1) throws {
        norm1 = try GroupNormLayer(weights.scoped("norm1."), groups: groups, channels: inChannels, epsilon: epsilon)
        conv1 = try Conv2dLayer(weights.scoped("conv1."), input: inChannels, output: outChannels, kernel: 3)
        timeEmbProj = try timeEmbeddingChannels.map {
            try LinearLayer(weights.scoped("time_emb_proj."), input: $0, output: outChannels)
        }
        norm2 = try GroupNormLayer(weights.scoped("norm2."), groups: groups, channels: outChannels, epsilon: epsilon)
        conv2 = try Conv2dLayer(weights.scoped("conv2."), input: outChannels, output: outChannels, kernel: 3)
        convShortcut = inChannels == outChannels ? nil
            : try Conv2dLayer(weights.scoped("conv_shortcut."), input: inChannels, output: outChannels, kernel: 1)
        self.outputScaleFactor = Float(outputScaleFactor)
    }

    /// `x` `[B, Cin, H, W]`, `temb` `[B, T]` (nil when the block has no time projection)
    /// -> `[B, Cout, H, W]`.
    func callAsFunction(_ x: Tensor, temb: Tensor? = nil) -> Tensor {
        var h = conv1(norm1(x, silu: true))
        if let timeEmbProj, let temb {
            let t = timeEmbProj(temb.silu())                      // [B, Cout]
            h += t.reshaped([t.shape[0], t.shape[1], 1, 1])
        }
        h = conv2(norm2(h, silu: true))
        h += convShortcut.map { $0(x) } ?? x
        return outputScaleFactor == 1 ? h : h / outputScaleFactor
    }
}
