import EaselTensor

/// Stable Diffusion's denoising UNet, as diffusers' `UNet2DConditionModel`
/// (`models/unets/unet_2d_condition.py`, 0.42.1), built from its `config.json` with weights
/// under diffusers' names. It predicts the noise (or `v`) in a latent `[B, 4, h, w]` at a
/// timestep, conditioned on text embeddings `[B, 77, D]`.
///
/// Layout: `conv_in`; the sinusoidal timestep embedding through `time_embedding`; the down
/// blocks, keeping every intermediate image as a skip connection; `mid_block`; the up
/// blocks, each consuming the skips of its level; `conv_norm_out` + SiLU; `conv_out`.
/// Activations stay NCHW except inside each `Transformer2DModel`.
///
/// Covers SD 1.x and 2.x configs (see `UNet2DConditionConfig` for what is refused).
public struct UNet2DConditionModel: Sendable {
    /// A down block of either kind.
    enum DownBlock: Sendable {
        case crossAttention(CrossAttnDownBlock2D)
        case plain(DownBlock2D)
    }

    /// An up block of either kind.
    enum UpBlock: Sendable {
        case crossAttention(CrossAttnUpBlock2D)
        case plain(UpBlock2D)

        var skipCount: Int {
            switch self {
            case let .crossAttention(block): block.skipCount
            case let .plain(block): block.skipCount
            }
        }
    }

    public let config: UNet2DConditionConfig
    let convIn: Conv2dLayer
    let timeProj: Timesteps
    let timeEmbedding: TimestepEmbedding
    /// SDXL's `text_time` addition: `add_time_proj` (weightless) and `add_embedding`.
    let addTimeProj: Timesteps?
    let addEmbedding: TimestepEmbedding?
    let downBlocks: [DownBlock]
    let midBlock: UNetMidBlock2DCrossAttn
    let upBlocks: [UpBlock]
    let convNormOut: GroupNormLayer
    let convOut: Conv2dLayer

    /// Builds the model described by `config`, taking every weight from `weights` by its
    /// diffusers name and shape. Does not check that `weights` has nothing left over; the
    /// root source's `checkAllConsumed()` does (as `load(from:)` does).
    public init(config: UNet2DConditionConfig, weights: any WeightSource) throws {
        self.config = config
        let channels = config.blockOutChannels
        let levels = channels.count
        precondition(config.downBlockTypes.count == levels && config.upBlockTypes.count == levels
            && config.layersPerBlock.count == levels && config.numAttentionHeads.count == levels
            && config.crossAttentionDim.count == levels && config.transformerLayersPerBlock.count == levels,
            "UNet2DConditionConfig: per-block lists must have one entry per block")
        let options = UNetBlockOptions(config)
        let timeEmbedDim = config.timeEmbedDimension

        convIn = try Conv2dLayer(weights.scoped("conv_in."), input: config.inChannels, output: channels[0],
                                 kernel: config.convInKernel)
        timeProj = Timesteps(channels: channels[0], flipSinToCos: config.flipSinToCos,
                             downscaleFreqShift: config.freqShift)
        timeEmbedding = try TimestepEmbedding(weights.scoped("time_embedding."), input: channels[0],
                                              embedding: timeEmbedDim, condProjDim: config.timeCondProjDim)
        if let addition = config.addition {
            addTimeProj = Timesteps(channels: addition.timeEmbedDim, flipSinToCos: config.flipSinToCos,
                                    downscaleFreqShift: config.freqShift)
            addEmbedding = try TimestepEmbedding(weights.scoped("add_embedding."), input: addition.inputDim,
                                                 embedding: timeEmbedDim)
        } else {
            (addTimeProj, addEmbedding) = (nil, nil)
        }

        var downBlocks: [DownBlock] = []
        for (i, type) in config.downBlockTypes.enumerated() {
            let scope = weights.scoped("down_blocks.\(i).")
            let input = i == 0 ? channels[0] : channels[i - 1]
            let isFinal = i == levels - 1
            if type == "CrossAttnDownBlock2D" {
                downBlocks.append(.crossAttention(try CrossAttnDownBlock2D(
                    scope, options: options, inChannels: input, outChannels: channels[i],
                    layers: config.layersPerBlock[i], transformerLayers: config.transformerLayersPerBlock[i],
                    heads: config.numAttentionHeads[i], crossAttentionDim: config.crossAttentionDim[i],
                    addDownsample: !isFinal, downsamplePadding: config.downsamplePadding)))
            } else {
                downBlocks.append(.plain(try DownBlock2D(
                    scope, options: options, inChannels: input, outChannels: channels[i],
                    layers: config.layersPerBlock[i], addDownsample: !isFinal,
                    downsamplePadding: config.downsamplePadding)))
            }
        }
        self.downBlocks = downBlocks

        midBlock = try UNetMidBlock2DCrossAttn(
            weights.scoped("mid_block."), options: options, channels: channels[levels - 1],
            transformerLayers: config.transformerLayersPerBlock[levels - 1],
            heads: config.numAttentionHeads[levels - 1], crossAttentionDim: config.crossAttentionDim[levels - 1],
            outputScaleFactor: config.midBlockScaleFactor)

        // The up path mirrors the down path: per-block settings reversed.
        let reversedChannels = Array(channels.reversed())
        let reversedHeads = Array(config.numAttentionHeads.reversed())
        let reversedLayers = Array(config.layersPerBlock.reversed())
        let reversedCrossDim = Array(config.crossAttentionDim.reversed())
        let reversedTransformerLayers = Array(config.transformerLayersPerBlock.reversed())
        var upBlocks: [UpBlock] = []
        for (i, type) in config.upBlockTypes.enumerated() {
            let scope = weights.scoped("up_blocks.\(i).")
            let prevOutput = reversedChannels[max(i - 1, 0)]
            let output = reversedChannels[i]
            let input = reversedChannels[min(i + 1, levels - 1)]
            let isFinal = i == levels - 1
            if type == "CrossAttnUpBlock2D" {
                upBlocks.append(.crossAttention(try CrossAttnUpBlock2D(
                    scope, options: options, inChannels: input, prevOutputChannels: prevOutput, outChannels: output,
                    layers: reversedLayers[i] + 1, transformerLayers: reversedTransformerLayers[i],
                    heads: reversedHeads[i], crossAttentionDim: reversedCrossDim[i], addUpsample: !isFinal)))
            } else {
                upBlocks.append(.plain(try UpBlock2D(
                    scope, options: options, inChannels: input, prevOutputChannels: prevOutput, outChannels: output,
                    layers: reversedLayers[i] + 1, addUpsample: !isFinal)))
            }
        }
        self.upBlocks = upBlocks

        convNormOut = try GroupNormLayer(weights.scoped("conv_norm_out."), groups: config.normNumGroups,
                                         channels: channels[0], epsilon: config.normEps)
        convOut = try Conv2dLayer(weights.scoped("conv_out."), input: channels[0], output: config.outChannels,
                                  kernel: config.convOutKernel)
    }

    /// Loads a diffusers `unet/` folder strictly: its `config.json`, then every weight by
    /// name and shape, failing if the checkpoint holds a tensor the model does not use;
    /// `lora`'s UNet layers are fused into the weights.
    public static func load(from component: DiffusersComponent, variant: String? = nil,
                            matrixType: ElementType = .float32, lora: LoRAFusion = .none) throws -> UNet2DConditionModel {
        let config = try component.config(UNet2DConditionConfig.self)
        let weights = try lora.fusing(into: try component.weights(variant: variant, matrixType: matrixType), .unet)
        let model = try UNet2DConditionModel(config: config, weights: weights)
        try weights.checkAllConsumed()
        return model
    }

    /// The model's prediction for `sample` `[B, in, h, w]` at one `timestep` shared by the
    /// batch, conditioned on `encoderHiddenStates` `[B, M, crossAttentionDim]`
    /// -> `[B, out, h, w]`.
    public func callAsFunction(_ sample: Tensor, timestep: Float, encoderHiddenStates: Tensor) -> Tensor {
        self(sample, timesteps: Array(repeating: timestep, count: sample.shape[0]),
             encoderHiddenStates: encoderHiddenStates)
    }

    /// The model's prediction for `sample` at `timestep`, conditioned on `conditioning`.
    /// SD 1.x/2.x UNets read its context (and, guidance-distilled ones, its timestep
    /// condition); one with an added embedding (SDXL's `text_time`) also its pooled
    /// embeddings and time ids. `memo` keeps the cross-attentions' keys and values of the
    /// context from one step to the next (`DenoisingLoop` passes one per run).
    public func callAsFunction(_ sample: Tensor, timestep: Float, conditioning: Conditioning,
                               memo: CrossAttentionMemo? = nil) -> Tensor {
        self(sample, timesteps: Array(repeating: timestep, count: sample.shape[0]),
             encoderHiddenStates: conditioning.context, timestepCondition: conditioning.timestepCondition,
             pooled: conditioning.pooled, timeIds: conditioning.timeIds, memo: memo)
    }

    /// As `callAsFunction(_:timestep:encoderHiddenStates:)` with one timestep per batch element.
    /// `timestepCondition` `[B, time_cond_proj_dim]` is diffusers' `timestep_cond` (LCM's
    /// guidance embedding), added to the timestep embedding through `cond_proj`; a UNet
    /// without `time_cond_proj_dim` must not be given one.
    /// SDXL's `pooled` `[B, P]` and `timeIds` `[B, 6]` (diffusers' `added_cond_kwargs`) are
    /// required by a UNet with the `text_time` addition and refused by any other.
    /// `memo`: as for `callAsFunction(_:timestep:conditioning:memo:)`.
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], encoderHiddenStates tokens: Tensor,
                               timestepCondition: Tensor? = nil, pooled: Tensor? = nil, timeIds: Tensor? = nil,
                               memo: CrossAttentionMemo? = nil) -> Tensor {
        precondition(sample.rank == 4 && sample.shape[1] == config.inChannels,
                     "UNet input must be [B, \(config.inChannels), h, w], got \(sample.shape)")
        precondition(timesteps.count == sample.shape[0], "\(timesteps.count) timesteps for batch \(sample.shape[0])")
        precondition(tokens.rank == 3 && tokens.shape[0] == sample.shape[0],
                     "encoder hidden states must be [B, M, D] with B = \(sample.shape[0]), got \(tokens.shape)")
        let context = CrossAttentionContext(tokens: tokens, memo: memo)

        // diffusers: when a side is not a multiple of 2^upsamplers, each upsampler is told the
        // size of the skip connection it must match.
        let overallUpFactor = 1 << upBlocks.dropLast().count
        let forwardUpsampleSize = sample.shape[2] % overallUpFactor != 0 || sample.shape[3] % overallUpFactor != 0

        if let condition = timestepCondition {
            precondition(config.timeCondProjDim != nil, "this UNet has no time_cond_proj_dim for a timestep condition")
            precondition(condition.shape == [sample.shape[0], config.timeCondProjDim!],
                         "timestep condition must be [\(sample.shape[0]), \(config.timeCondProjDim!)], got \(condition.shape)")
        }
        var temb = timeEmbedding(timeProj(timesteps), condition: timestepCondition)  // [B, T]
        if let addTimeProj, let addEmbedding, let addition = config.addition {
            guard let pooled, let timeIds else {
                preconditionFailure("this UNet (text_time) needs the pooled text embeddings and the time ids")
            }
            let batch = sample.shape[0]
            precondition(pooled.shape == [batch, addition.pooledDim] && timeIds.shape == [batch, 6],
                         "text_time needs pooled [\(batch), \(addition.pooledDim)] and time ids [\(batch), 6], got \(pooled.shape) and \(timeIds.shape)")
            // diffusers: add_time_proj(time_ids.flatten()).reshape(B, -1), then concat with the text embeds.
            let timeEmbeds = addTimeProj(timeIds.scalars).reshaped([batch, 6 * addition.timeEmbedDim])
            temb = temb + addEmbedding(Tensor.concatenate([pooled, timeEmbeds], axis: 1))
        } else {
            precondition(pooled == nil && timeIds == nil, "this UNet has no added embedding for pooled text embeddings or time ids")
        }
        var h = convIn(config.centerInputSample ? sample * 2 - 1 : sample)
        var skips = [h]
        for block in downBlocks {
            let (out, blockSkips): (Tensor, [Tensor])
            switch block {
            case let .crossAttention(b): (out, blockSkips) = b(h, temb: temb, context: context)
            case let .plain(b): (out, blockSkips) = b(h, temb: temb)
            }
            h = out
            skips += blockSkips
        }
        h = midBlock(h, temb: temb, context: context)
        for (i, block) in upBlocks.enumerated() {
            let blockSkips = Array(skips.suffix(block.skipCount))
            skips.removeLast(block.skipCount)
            let isFinal = i == upBlocks.count - 1
            let upsampleSize: (height: Int, width: Int)? = !isFinal && forwardUpsampleSize
                ? (skips[skips.count - 1].shape[2], skips[skips.count - 1].shape[3]) : nil
            switch block {
            case let .crossAttention(b):
                h = b(h, skips: blockSkips, temb: temb, context: context, upsampleSize: upsampleSize)
            case let .plain(b):
                h = b(h, skips: blockSkips, temb: temb, upsampleSize: upsampleSize)
            }
        }
        return convOut(convNormOut(h, silu: true))
    }
}
