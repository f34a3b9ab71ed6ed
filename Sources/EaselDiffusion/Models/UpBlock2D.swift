import EaselTensor

/// An up block without attention, as diffusers' `UpBlock2D`: `layers` resnets, each fed
/// the running image concatenated (on channels) with the next skip connection from the down
/// path, deepest first; then an `Upsample2D` except in the last block.
///
/// Channel bookkeeping as diffusers: resnet `j` takes `prevOutput` (j = 0) or `out`
/// channels, plus `in` channels of skip for the last resnet and `out` for the others.
///
/// Weights (relative to `up_blocks.<i>.`): `resnets.<j>`, `upsamplers.0`.
struct UpBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let upsampler: Upsample2D?

    init(_ weights: any WeightSource, options: UNetBlockOptions, inChannels: Int, prevOutputChannels: Int,
         outChannels: Int, layers: Int, addUpsample: Bool) throws {
        resnets = try (0..<layers).map { j in
            let skipChannels = j == layers - 1 ? inChannels : outChannels
            let resnetIn = j == 0 ? prevOutputChannels : outChannels
            return try options.resnet(weights.scoped("resnets.\(j)."), in: resnetIn + skipChannels, out: outChannels)
        }
        upsampler = addUpsample ? try Upsample2D(weights.scoped("upsamplers.0."), channels: outChannels) : nil
    }

    /// Number of skip connections the block consumes.
    var skipCount: Int { resnets.count }

    /// `x` `[B, C, H, W]`, `skips` in down-path order (the last is used first).
    func callAsFunction(_ x: Tensor, skips: [Tensor], temb: Tensor,
                        upsampleSize: (height: Int, width: Int)?) -> Tensor {
        precondition(skips.count == resnets.count, "UpBlock2D needs \(resnets.count) skip connections, got \(skips.count)")
        var h = x
        for (resnet, skip) in zip(resnets, skips.reversed()) {
            h = resnet(Tensor.concatenate([h, skip], axis: 1), temb: temb)
        }
        return upsampler.map { $0(h, outputSize: upsampleSize) } ?? h
    }
}
