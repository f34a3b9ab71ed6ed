/// The configuration of a `UNet2DConditionModel`: diffusers' `unet/config.json`, whose keys
/// are `UNet2DConditionModel.__init__`'s arguments (diffusers 0.42.1,
/// `models/unets/unet_2d_condition.py`).
///
/// Missing or null keys take diffusers' defaults (SD 1.x configs predate most of them).
/// Int-or-list fields are normalised here, once, to one value per down block. Features
/// Easel does not implement (class and addition embeddings, other block or embedding
/// types...) fail decoding with the field named, rather than being ignored.
///
/// `numAttentionHeads` mirrors diffusers exactly: when `num_attention_heads` is null the
/// heads are `attention_head_dim` — SD 2.x's per-block `attention_head_dim` list is in fact
/// a list of head counts (diffusers issue 2011).
public struct UNet2DConditionConfig: Codable, Sendable, Equatable {
    /// Latent side length the model was trained at (image side / 8). diffusers' default is
    /// None (its pipelines then fail); Easel takes 64, SD 1.x's, when the config omits it.
    public var sampleSize: Int
    public var inChannels: Int
    public var outChannels: Int
    /// `sample = 2 * sample - 1` before `conv_in`.
    public var centerInputSample: Bool
    public var flipSinToCos: Bool
    /// `downscale_freq_shift` of the sinusoidal timestep embedding.
    public var freqShift: Double
    /// `CrossAttnDownBlock2D` or `DownBlock2D`, one per resolution.
    public var downBlockTypes: [String]
    /// `UNetMidBlock2DCrossAttn` (the only mid block Easel builds).
    public var midBlockType: String
    /// `UpBlock2D` or `CrossAttnUpBlock2D`, deepest first.
    public var upBlockTypes: [String]
    public var blockOutChannels: [Int]
    /// Resnets per down block (the up blocks have one more).
    public var layersPerBlock: [Int]
    public var downsamplePadding: Int
    /// `output_scale_factor` of the mid block's resnets.
    public var midBlockScaleFactor: Double
    public var normNumGroups: Int
    public var normEps: Double
    /// Width of the text embeddings each down block attends to.
    public var crossAttentionDim: [Int]
    /// `BasicTransformerBlock`s per `Transformer2DModel`, per down block.
    public var transformerLayersPerBlock: [Int]
    /// As written in the config (see `numAttentionHeads` for what it means).
    public var attentionHeadDim: [Int]
    /// Heads of each down block's transformers: `num_attention_heads`, or
    /// `attention_head_dim` when that is null, as diffusers resolves it.
    public var numAttentionHeads: [Int]
    /// `Transformer2DModel.proj_in`/`proj_out` are linear layers (SD 2.x), not 1x1 convs.
    public var useLinearProjection: Bool
    /// Only changes precision in half-precision runs; Easel computes in float32 throughout.
    public var upcastAttention: Bool
    /// Width of the time embedding; nil means `4 * blockOutChannels[0]`.
    public var timeEmbeddingDim: Int?
    public var convInKernel: Int
    public var convOutKernel: Int
    /// Width of the guidance embedding a guidance-distilled UNet (LCM) adds to its timestep
    /// embedding through `time_embedding.cond_proj`; nil for the usual UNet.
    public var timeCondProjDim: Int?
    /// SDXL's added conditioning (`addition_embed_type: "text_time"`): the pooled text
    /// embedding and six size/crop numbers, each number through a sinusoidal embedding of
    /// `additionTimeEmbedDim`, concatenated (`projectionClassEmbeddingsInputDim` wide) and
    /// added to the timestep embedding through `add_embedding`. Nil for SD 1.x/2.x.
    public var addition: TextTimeAddition?

    /// The `text_time` added embedding's widths.
    public struct TextTimeAddition: Codable, Sendable, Equatable {
        public var timeEmbedDim: Int
        public var inputDim: Int
        /// Width of the pooled text embedding: `inputDim - 6 * timeEmbedDim`.
        public var pooledDim: Int { inputDim - 6 * timeEmbedDim }
    }

    /// The block types Easel builds.
    static let supportedDownBlocks: Set<String> = ["CrossAttnDownBlock2D", "DownBlock2D"]
    static let supportedUpBlocks: Set<String> = ["CrossAttnUpBlock2D", "UpBlock2D"]

    /// Width of the timestep embedding fed to the resnets.
    public var timeEmbedDimension: Int { timeEmbeddingDim ?? blockOutChannels[0] * 4 }

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size"
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case centerInputSample = "center_input_sample"
        case flipSinToCos = "flip_sin_to_cos"
        case freqShift = "freq_shift"
        case downBlockTypes = "down_block_types"
        case midBlockType = "mid_block_type"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case downsamplePadding = "downsample_padding"
        case midBlockScaleFactor = "mid_block_scale_factor"
        case normNumGroups = "norm_num_groups"
        case normEps = "norm_eps"
        case crossAttentionDim = "cross_attention_dim"
        case transformerLayersPerBlock = "transformer_layers_per_block"
        case attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads"
        case useLinearProjection = "use_linear_projection"
        case upcastAttention = "upcast_attention"
        case timeEmbeddingDim = "time_embedding_dim"
        case convInKernel = "conv_in_kernel"
        case convOutKernel = "conv_out_kernel"
        case timeCondProjDim = "time_cond_proj_dim"
        case addition
    }

    /// The keys `addition` is read from.
    enum AdditionKeys: String, CodingKey {
        case additionEmbedType = "addition_embed_type"
        case additionTimeEmbedDim = "addition_time_embed_dim"
        case projectionClassEmbeddingsInputDim = "projection_class_embeddings_input_dim"
    }

    /// Keys read only to refuse what Easel does not implement.
    enum UnsupportedKeys: String, CodingKey {
        case actFn = "act_fn"
        case onlyCrossAttention = "only_cross_attention"
        case midBlockOnlyCrossAttention = "mid_block_only_cross_attention"
        case dualCrossAttention = "dual_cross_attention"
        case classEmbedType = "class_embed_type"
        case numClassEmbeds = "num_class_embeds"
        case encoderHidDim = "encoder_hid_dim"
        case encoderHidDimType = "encoder_hid_dim_type"
        case resnetTimeScaleShift = "resnet_time_scale_shift"
        case resnetSkipTimeAct = "resnet_skip_time_act"
        case timeEmbeddingType = "time_embedding_type"
        case timeEmbeddingActFn = "time_embedding_act_fn"
        case timestepPostAct = "timestep_post_act"
        case attentionType = "attention_type"
        case crossAttentionNorm = "cross_attention_norm"
        case classEmbeddingsConcat = "class_embeddings_concat"
        case reverseTransformerLayersPerBlock = "reverse_transformer_layers_per_block"
    }

    /// diffusers' defaults: the SD 1.x UNet (`UNet2DConditionModel()` with no arguments).
    public init() {
        sampleSize = 64
        inChannels = 4
        outChannels = 4
        centerInputSample = false
        flipSinToCos = true
        freqShift = 0
        downBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
        midBlockType = "UNetMidBlock2DCrossAttn"
        upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
        blockOutChannels = [320, 640, 1280, 1280]
        layersPerBlock = [2, 2, 2, 2]
        downsamplePadding = 1
        midBlockScaleFactor = 1
        normNumGroups = 32
        normEps = 1e-5
        crossAttentionDim = [1280, 1280, 1280, 1280]
        transformerLayersPerBlock = [1, 1, 1, 1]
        attentionHeadDim = [8, 8, 8, 8]
        numAttentionHeads = [8, 8, 8, 8]
        useLinearProjection = false
        upcastAttention = false
        timeEmbeddingDim = nil
        convInKernel = 3
        convOutKernel = 3
        timeCondProjDim = nil
        addition = nil
    }

    public init(from decoder: any Decoder) throws {
        try Self.refuseUnsupported(try decoder.container(keyedBy: UnsupportedKeys.self))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = UNet2DConditionConfig()
        sampleSize = try c.value(.sampleSize, default: d.sampleSize)
        inChannels = try c.value(.inChannels, default: d.inChannels)
        outChannels = try c.value(.outChannels, default: d.outChannels)
        centerInputSample = try c.value(.centerInputSample, default: d.centerInputSample)
        flipSinToCos = try c.value(.flipSinToCos, default: d.flipSinToCos)
        freqShift = try c.value(.freqShift, default: d.freqShift)
        downBlockTypes = try c.value(.downBlockTypes, default: d.downBlockTypes)
            .map(Self.strippingResPrefix)
        midBlockType = try c.value(.midBlockType, default: d.midBlockType)
        upBlockTypes = try c.value(.upBlockTypes, default: d.upBlockTypes).map(Self.strippingResPrefix)
        blockOutChannels = try c.value(.blockOutChannels, default: d.blockOutChannels)
        downsamplePadding = try c.value(.downsamplePadding, default: d.downsamplePadding)
        midBlockScaleFactor = try c.value(.midBlockScaleFactor, default: d.midBlockScaleFactor)
        normEps = try c.value(.normEps, default: d.normEps)
        useLinearProjection = try c.value(.useLinearProjection, default: d.useLinearProjection)
        upcastAttention = try c.value(.upcastAttention, default: d.upcastAttention)
        timeEmbeddingDim = try c.decodeIfPresent(Int.self, forKey: .timeEmbeddingDim)
        convInKernel = try c.value(.convInKernel, default: d.convInKernel)
        convOutKernel = try c.value(.convOutKernel, default: d.convOutKernel)
        timeCondProjDim = try c.decodeIfPresent(Int.self, forKey: .timeCondProjDim)
        let a = try decoder.container(keyedBy: AdditionKeys.self)
        switch try a.decodeIfPresent(String.self, forKey: .additionEmbedType) {
        case nil:
            addition = nil
        case "text_time":
            guard let timeDim = try a.decodeIfPresent(Int.self, forKey: .additionTimeEmbedDim) else {
                throw a.unsupported(.additionTimeEmbedDim, "the text_time addition needs addition_time_embed_dim")
            }
            guard let inputDim = try a.decodeIfPresent(Int.self, forKey: .projectionClassEmbeddingsInputDim) else {
                throw a.unsupported(.projectionClassEmbeddingsInputDim, "the text_time addition needs projection_class_embeddings_input_dim")
            }
            try a.requireRange(.additionTimeEmbedDim, [timeDim], ConfigLimits.extent)
            try a.requireRange(.projectionClassEmbeddingsInputDim, [inputDim], ConfigLimits.extent)
            addition = TextTimeAddition(timeEmbedDim: timeDim, inputDim: inputDim)
            guard timeDim % 2 == 0, inputDim > 6 * timeDim else {
                throw a.unsupported(.projectionClassEmbeddingsInputDim,
                                    "\(inputDim) leaves no room for a pooled text embedding beside 6 x \(timeDim) time embeddings (or addition_time_embed_dim is odd)")
            }
        case let other?:
            throw a.unsupported(.additionEmbedType, "addition embedding \"\(other)\" is not implemented (supported: text_time, SDXL's)")
        }
        if c.contains(.normNumGroups), try c.decodeNil(forKey: .normNumGroups) {
            throw c.unsupported(.normNumGroups, "null (no output group norm) is not implemented")
        }
        normNumGroups = try c.value(.normNumGroups, default: d.normNumGroups)

        let blocks = downBlockTypes.count
        guard blocks > 0, upBlockTypes.count == blocks else {
            throw c.unsupported(.upBlockTypes, "\(upBlockTypes.count) up blocks for \(blocks) down blocks; they must match and not be empty")
        }
        guard blockOutChannels.count == blocks else {
            throw c.unsupported(.blockOutChannels, "\(blockOutChannels.count) entries for \(blocks) down blocks")
        }
        layersPerBlock = try c.perBlock(.layersPerBlock, default: 2, count: blocks)
        crossAttentionDim = try c.perBlock(.crossAttentionDim, default: 1280, count: blocks)
        transformerLayersPerBlock = try c.perBlock(.transformerLayersPerBlock, default: 1, count: blocks)
        attentionHeadDim = try c.perBlock(.attentionHeadDim, default: 8, count: blocks)
        numAttentionHeads = try c.optionalPerBlock(.numAttentionHeads, count: blocks) ?? attentionHeadDim

        try validate(c)
    }

    /// diffusers accepts `UNetResDownBlock2D` etc. as aliases of the plain names.
    private static func strippingResPrefix(_ type: String) -> String {
        type.hasPrefix("UNetRes") ? String(type.dropFirst("UNetRes".count)) : type
    }

    private static func refuseUnsupported(_ c: KeyedDecodingContainer<UnsupportedKeys>) throws {
        try c.require(.actFn, String.self, isAbsentOr: "silu", "only SiLU activations are implemented")
        try c.require(.classEmbedType, String.self, "class embeddings are not implemented")
        try c.require(.numClassEmbeds, Int.self, "class embeddings are not implemented")
        try c.require(.encoderHidDim, Int.self, "an encoder_hid_proj is not implemented")
        try c.require(.encoderHidDimType, String.self, "an encoder_hid_proj is not implemented")
        try c.require(.resnetTimeScaleShift, String.self, isAbsentOr: "default", "only \"default\" (additive) time conditioning is implemented")
        try c.require(.resnetSkipTimeAct, Bool.self, isAbsentOr: false, "skip_time_act is not implemented")
        try c.require(.timeEmbeddingType, String.self, isAbsentOr: "positional", "only the sinusoidal (positional) timestep embedding is implemented")
        try c.require(.timeEmbeddingActFn, String.self, "time_embedding_act_fn is not implemented")
        try c.require(.timestepPostAct, String.self, "timestep_post_act is not implemented")
        try c.require(.attentionType, String.self, isAbsentOr: "default", "only default attention is implemented")
        try c.require(.crossAttentionNorm, String.self, "cross_attention_norm is not implemented")
        try c.require(.dualCrossAttention, Bool.self, isAbsentOr: false, "dual cross-attention is not implemented")
        try c.require(.midBlockOnlyCrossAttention, Bool.self, isAbsentOr: false, "only-cross-attention blocks are not implemented")
        try c.require(.classEmbeddingsConcat, Bool.self, isAbsentOr: false, "class embeddings are not implemented")
        if c.contains(.reverseTransformerLayersPerBlock), try !c.decodeNil(forKey: .reverseTransformerLayersPerBlock) {
            throw c.unsupported(.reverseTransformerLayersPerBlock, "asymmetric transformer depths are not implemented")
        }
        if let only = try? c.decodeIfPresent(Bool.self, forKey: .onlyCrossAttention) {
            if only { throw c.unsupported(.onlyCrossAttention, "only-cross-attention blocks are not implemented") }
        } else if let only = try c.decodeIfPresent([Bool].self, forKey: .onlyCrossAttention), only.contains(true) {
            throw c.unsupported(.onlyCrossAttention, "only-cross-attention blocks are not implemented")
        }
    }

    private func validate(_ c: KeyedDecodingContainer<CodingKeys>) throws {
        for type in downBlockTypes where !Self.supportedDownBlocks.contains(type) {
            throw c.unsupported(.downBlockTypes, "block type \(type) is not implemented (supported: \(Self.supportedDownBlocks.sorted().joined(separator: ", ")))")
        }
        for type in upBlockTypes where !Self.supportedUpBlocks.contains(type) {
            throw c.unsupported(.upBlockTypes, "block type \(type) is not implemented (supported: \(Self.supportedUpBlocks.sorted().joined(separator: ", ")))")
        }
        guard midBlockType == "UNetMidBlock2DCrossAttn" else {
            throw c.unsupported(.midBlockType, "mid block \(midBlockType) is not implemented (supported: UNetMidBlock2DCrossAttn)")
        }
        // Ranges first: the divisibility checks below divide by these values.
        try c.requireRange(.sampleSize, [sampleSize], ConfigLimits.extent)
        try c.requireRange(.inChannels, [inChannels], ConfigLimits.extent)
        try c.requireRange(.outChannels, [outChannels], ConfigLimits.extent)
        try c.requireRange(.blockOutChannels, blockOutChannels, ConfigLimits.extent)
        try c.requireRange(.normNumGroups, [normNumGroups], ConfigLimits.extent)
        try c.requireRange(.layersPerBlock, layersPerBlock, ConfigLimits.layers)
        try c.requireRange(.crossAttentionDim, crossAttentionDim, ConfigLimits.extent)
        try c.requireRange(.transformerLayersPerBlock, transformerLayersPerBlock, ConfigLimits.layers)
        try c.requireRange(.attentionHeadDim, attentionHeadDim, ConfigLimits.extent)
        try c.requireRange(.numAttentionHeads, numAttentionHeads, ConfigLimits.extent)
        try c.requireRange(.timeEmbeddingDim, timeEmbeddingDim.map { [$0] } ?? [], ConfigLimits.extent)
        try c.requireRange(.timeCondProjDim, timeCondProjDim.map { [$0] } ?? [], ConfigLimits.extent)
        try c.requireRange(.convInKernel, [convInKernel], ConfigLimits.kernel)
        try c.requireRange(.convOutKernel, [convOutKernel], ConfigLimits.kernel)
        try c.requireRange(.downsamplePadding, [downsamplePadding], 0...ConfigLimits.kernel.upperBound)
        for (i, channels) in blockOutChannels.enumerated() {
            guard channels > 0, channels % normNumGroups == 0 else {
                throw c.unsupported(.blockOutChannels, "block \(i): \(channels) channels do not split into \(normNumGroups) groups")
            }
            guard numAttentionHeads[i] > 0, channels % numAttentionHeads[i] == 0 else {
                throw c.unsupported(.numAttentionHeads, "block \(i): \(channels) channels do not split into \(numAttentionHeads[i]) heads")
            }
        }
        guard convInKernel % 2 == 1, convOutKernel % 2 == 1 else {
            throw c.unsupported(.convInKernel, "conv_in/conv_out kernels must be odd")
        }
    }
}
