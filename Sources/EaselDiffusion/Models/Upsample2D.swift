import EaselTensor

/// Doubling of the resolution, as diffusers' `Upsample2D` with `use_conv=True`:
/// nearest-neighbour interpolation, then a 3x3 convolution.
///
/// The UNet passes an explicit `outputSize` when the latent's sides are not multiples of
/// `2^levels` (its `forward_upsample_size`): the image is then resized to the size of the
/// matching skip connection, as `F.interpolate(size=..., mode="nearest")` does.
///
/// Weights (relative to `upsamplers.0.`): `conv.weight` `[C, C, 3, 3]`, `conv.bias`.
struct Upsample2D: Sendable {
    let conv: Conv2dLayer

    init(_ weights: any WeightSource, channels: Int) throws {
        conv = try Conv2dLayer(weights.scoped("conv."), input: channels, output: channels, kernel: 3)
    }

    /// `[B, C, H, W]` -> `[B, C, 2H, 2W]`, or `[B, C, outputSize.h, outputSize.w]`.
    func callAsFunction(_ x: Tensor, outputSize: (height: Int, width: Int)? = nil) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        guard let size = outputSize, size.height != 2 * h || size.width != 2 * w else {
            return conv(x.upsampledNearest(factor: 2))
        }
        return conv(Self.resizedNearest(x, height: size.height, width: size.width))
    }

    /// `F.interpolate(x, size=(height, width), mode="nearest")`: output pixel `i` takes
    /// input pixel `floor(i * in / out)` along each axis (PyTorch's float32 scale).
    ///
    /// Only the odd-size path uses it, so it is built from existing ops (row gathers and
    /// transposes) rather than a kernel of its own.
    static func resizedNearest(_ x: Tensor, height: Int, width: Int) -> Tensor {
        let (batch, channels, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let planes = batch * channels
        let rowsAlongH = sourceIndices(input: h, output: height)
        let rowsAlongW = sourceIndices(input: w, output: width)
        // Rows of every plane: [planes*h, w] -> [planes*height, w].
        let ids = (0..<planes).flatMap { p in rowsAlongH.map { p * h + $0 } }
        let tall = x.reshaped([planes * h, w]).gatherRows(ids)
        // Columns, as rows of the transposed planes: [planes, w, height] -> [planes, width, height].
        let columns = tall.reshaped([planes, height, w]).transposed(1, 2).reshaped([planes * w, height])
        let columnIds = (0..<planes).flatMap { p in rowsAlongW.map { p * w + $0 } }
        let wide = columns.gatherRows(columnIds).reshaped([planes, width, height]).transposed(1, 2)
        return wide.reshaped([batch, channels, height, width])
    }

    /// PyTorch's `nearest_idx` without a scale factor: `min(floor(i * (in / out)), in - 1)`.
    static func sourceIndices(input: Int, output: Int) -> [Int] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { min(Int((Float($0) * scale).rounded(.down)), input - 1) }
    }
}
