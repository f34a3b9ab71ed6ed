import EaselTensor

/// A VAE encoder block, as diffusers' `DownEncoderBlock2D`: resnets without time
/// embedding (epsilon 1e-6), then a stride-2 `Downsample2D` padded only bottom and right
/// (`downsample_padding=0`), except in the deepest block.
///
/// Weights (relative to `encoder.down_blocks.<i>.`): `resnets.<j>`, `downsamplers.0`.
struct DownEncoderBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let downsampler: Downsample2D?

    init(_ weights: any WeightSource, inChannels: Int, outChannels: Int, layers: Int, groups: Int,
         addDownsample: Bool) throws {
        resnets = try (0..<layers).map { j in
            try ResnetBlock2D(weights.scoped("resnets.\(j)."), inChannels: j == 0 ? inChannels : outChannels,
                              outChannels: outChannels, timeEmbeddingChannels: nil, groups: groups, epsilon: 1e-6)
        }
        downsampler = addDownsample
            ? try Downsample2D(weights.scoped("downsamplers.0."), channels: outChannels, padding: 0)
            : nil
    }

    /// `[B, Cin, H, W]` -> `[B, Cout, H/2, W/2]` (or `[B, Cout, H, W]` in the deepest block).
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for resnet in resnets { h = resnet(h) }
        return downsampler.map { $0(h) } ?? h
    }
}
