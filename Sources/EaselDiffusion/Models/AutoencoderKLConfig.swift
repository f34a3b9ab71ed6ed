/// The configuration of an `AutoencoderKL`: diffusers' `vae/config.json`, whose keys are
/// `AutoencoderKL.__init__`'s arguments (diffusers 0.42.1,
/// `models/autoencoders/autoencoder_kl.py`). Missing or null keys take diffusers' defaults.
///
/// `force_upcast` is irrelevant to Easel, which decodes in float32 anyway. Only the SD
/// block types (`DownEncoderBlock2D`, `UpDecoderBlock2D`) and SiLU are built; anything else
/// fails decoding with the field named.
public struct AutoencoderKLConfig: Codable, Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var downBlockTypes: [String]
    public var upBlockTypes: [String]
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var latentChannels: Int
    public var normNumGroups: Int
    /// Image side the VAE was trained at.
    public var sampleSize: Int?
    /// Latents are `scaling_factor * z`: the pipeline divides by it before decoding and
    /// multiplies after encoding.
    public var scalingFactor: Double
    /// Subtracted before scaling by pipelines that use it (SD 3, Flux); nil for SD 1.x/2.x.
    public var shiftFactor: Double?
    public var useQuantConv: Bool
    public var usePostQuantConv: Bool
    public var midBlockAddAttention: Bool

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case latentChannels = "latent_channels"
        case normNumGroups = "norm_num_groups"
        case sampleSize = "sample_size"
        case scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor"
        case useQuantConv = "use_quant_conv"
        case usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }

    /// Keys read only to refuse what Easel does not implement.
    enum UnsupportedKeys: String, CodingKey {
        case actFn = "act_fn"
    }

    /// diffusers' defaults (`AutoencoderKL()` with no arguments).
    public init() {
        inChannels = 3
        outChannels = 3
        downBlockTypes = ["DownEncoderBlock2D"]
        upBlockTypes = ["UpDecoderBlock2D"]
        blockOutChannels = [64]
        layersPerBlock = 1
        latentChannels = 4
        normNumGroups = 32
        sampleSize = 32
        scalingFactor = 0.18215
        shiftFactor = nil
        useQuantConv = true
        usePostQuantConv = true
        midBlockAddAttention = true
    }

    /// The SD 1.x/2.x VAE (`stabilityai/sd-vae-ft-mse`, the `vae/` of SD 1.5 and 2.1).
    public static var stableDiffusion: AutoencoderKLConfig {
        var config = AutoencoderKLConfig()
        config.downBlockTypes = Array(repeating: "DownEncoderBlock2D", count: 4)
        config.upBlockTypes = Array(repeating: "UpDecoderBlock2D", count: 4)
        config.blockOutChannels = [128, 256, 512, 512]
        config.layersPerBlock = 2
        config.sampleSize = 512
        return config
    }

    public init(from decoder: any Decoder) throws {
        let unsupported = try decoder.container(keyedBy: UnsupportedKeys.self)
        try unsupported.require(.actFn, String.self, isAbsentOr: "silu", "only SiLU activations are implemented")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutoencoderKLConfig()
        inChannels = try c.value(.inChannels, default: d.inChannels)
        outChannels = try c.value(.outChannels, default: d.outChannels)
        downBlockTypes = try c.value(.downBlockTypes, default: d.downBlockTypes)
        upBlockTypes = try c.value(.upBlockTypes, default: d.upBlockTypes)
        blockOutChannels = try c.value(.blockOutChannels, default: d.blockOutChannels)
        layersPerBlock = try c.value(.layersPerBlock, default: d.layersPerBlock)
        latentChannels = try c.value(.latentChannels, default: d.latentChannels)
        normNumGroups = try c.value(.normNumGroups, default: d.normNumGroups)
        sampleSize = try c.value(.sampleSize, default: d.sampleSize)
        scalingFactor = try c.value(.scalingFactor, default: d.scalingFactor)
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor)
        useQuantConv = try c.value(.useQuantConv, default: d.useQuantConv)
        usePostQuantConv = try c.value(.usePostQuantConv, default: d.usePostQuantConv)
        midBlockAddAttention = try c.value(.midBlockAddAttention, default: d.midBlockAddAttention)

        for type in downBlockTypes where type != "DownEncoderBlock2D" {
            throw c.unsupported(.downBlockTypes, "block type \(type) is not implemented (supported: DownEncoderBlock2D)")
        }
        for type in upBlockTypes where type != "UpDecoderBlock2D" {
            throw c.unsupported(.upBlockTypes, "block type \(type) is not implemented (supported: UpDecoderBlock2D)")
        }
        guard !blockOutChannels.isEmpty, downBlockTypes.count == blockOutChannels.count,
              upBlockTypes.count == blockOutChannels.count else {
            throw c.unsupported(.blockOutChannels, "\(blockOutChannels.count) entries for \(downBlockTypes.count) down and \(upBlockTypes.count) up blocks; they must match")
        }
        // Ranges first: the divisibility check below divides by the group count.
        try c.requireRange(.inChannels, [inChannels], ConfigLimits.extent)
        try c.requireRange(.outChannels, [outChannels], ConfigLimits.extent)
        try c.requireRange(.blockOutChannels, blockOutChannels, ConfigLimits.extent)
        try c.requireRange(.layersPerBlock, [layersPerBlock], ConfigLimits.layers)
        try c.requireRange(.latentChannels, [latentChannels], ConfigLimits.extent)
        try c.requireRange(.normNumGroups, [normNumGroups], ConfigLimits.extent)
        try c.requireRange(.sampleSize, sampleSize.map { [$0] } ?? [], ConfigLimits.extent)
        for channels in blockOutChannels where channels <= 0 || channels % normNumGroups != 0 {
            throw c.unsupported(.blockOutChannels, "\(channels) channels do not split into \(normNumGroups) groups")
        }
    }
}
