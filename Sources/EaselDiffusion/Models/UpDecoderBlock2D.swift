import EaselTensor

/// A VAE decoder block, as diffusers' `UpDecoderBlock2D`: resnets without time embedding
/// (epsilon 1e-6), then a 2x `Upsample2D` except in the last block.
///
/// Weights (relative to `decoder.up_blocks.<i>.`): `resnets.<j>`, `upsamplers.0`.
struct UpDecoderBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let upsampler: Upsample2D?

    init(_ weights: any WeightSource, inChannels: Int, outChannels: Int, layers: Int, groups: Int,
         addUpsample: Bool) throws {
        resnets = try (0..<layers).map { j in
            try ResnetBlock2D(weights.scoped("resnets.\(j)."), inChannels: j == 0 ? inChannels : outChannels,
                              outChannels: outChannels, timeEmbeddingChannels: nil, groups: groups, epsilon: 1e-6)
        }
        upsampler = addUpsample ? try Upsample2D(weights.scoped("upsamplers.0."), channels: outChannels) : nil
    }

    /// `[B, Cin, H, W]` -> `[B, Cout, 2H, 2W]` (or `[B, Cout, H, W]` in the last block).
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for resnet in resnets { h = resnet(h) }
        return upsampler.map { $0(h) } ?? h
    }
}
