import EaselTensor

/// A down block without attention, as diffusers' `DownBlock2D`: `layers` resnets, then a
/// stride-2 `Downsample2D` except in the deepest block; every output is kept for the up path.
///
/// Weights (relative to `down_blocks.<i>.`): `resnets.<j>`, `downsamplers.0`.
struct DownBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let downsampler: Downsample2D?

    init(_ weights: any WeightSource, options: UNetBlockOptions, inChannels: Int, outChannels: Int, layers: Int,
         addDownsample: Bool, downsamplePadding: Int) throws {
        resnets = try (0..<layers).map { j in
            try options.resnet(weights.scoped("resnets.\(j)."), in: j == 0 ? inChannels : outChannels, out: outChannels)
        }
        downsampler = addDownsample
            ? try Downsample2D(weights.scoped("downsamplers.0."), channels: outChannels, padding: downsamplePadding)
            : nil
    }

    /// `x` `[B, Cin, H, W]` -> (`[B, Cout, H', W']`, the skip connections in order).
    func callAsFunction(_ x: Tensor, temb: Tensor) -> (Tensor, [Tensor]) {
        var h = x
        var skips: [Tensor] = []
        for resnet in resnets {
            h = resnet(h, temb: temb)
            skips.append(h)
        }
        if let downsampler {
            h = downsampler(h)
            skips.append(h)
        }
        return (h, skips)
    }
}
