/// The configuration of an `AutoencoderTiny` (TAESD): diffusers' `config.json`, whose keys
/// are `AutoencoderTiny.__init__`'s arguments (diffusers 0.42.1,
/// `models/autoencoders/autoencoder_tiny.py`). Missing or null keys take diffusers'
/// defaults, which are madebyollin's TAESD (the configuration used for his original
/// `taesd_*.safetensors` files, with the channel and block counts read from the weights).
///
/// Only ReLU and nearest upsampling are built; anything else fails decoding with the field
/// named. `latent_magnitude`/`latent_shift` (for storing latents as images) and
/// `shift_factor` play no part in Stable Diffusion's decoding and are not read.
public struct AutoencoderTinyConfig: Codable, Sendable, Equatable {
    public var inChannels: Int
    public var outChannels: Int
    public var encoderBlockOutChannels: [Int]
    public var decoderBlockOutChannels: [Int]
    public var latentChannels: Int
    public var upsamplingScalingFactor: Int
    /// `AutoencoderTinyBlock`s after each encoder level's first convolution.
    public var numEncoderBlocks: [Int]
    /// `AutoencoderTinyBlock`s of each decoder level, before its upsampling.
    public var numDecoderBlocks: [Int]
    /// The pipeline divides latents by it before decoding: 1 for TAESD, which decodes
    /// Stable Diffusion's scaled latents directly.
    public var scalingFactor: Double

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case encoderBlockOutChannels = "encoder_block_out_channels"
        case decoderBlockOutChannels = "decoder_block_out_channels"
        case latentChannels = "latent_channels"
        case upsamplingScalingFactor = "upsampling_scaling_factor"
        case numEncoderBlocks = "num_encoder_blocks"
        case numDecoderBlocks = "num_decoder_blocks"
        case scalingFactor = "scaling_factor"
    }

    /// Keys read only to refuse what Easel does not implement.
    enum UnsupportedKeys: String, CodingKey {
        case actFn = "act_fn"
        case upsampleFn = "upsample_fn"
    }

    /// diffusers' defaults (`AutoencoderTiny()`): madebyollin's TAESD.
    public init() {
        inChannels = 3
        outChannels = 3
        encoderBlockOutChannels = [64, 64, 64, 64]
        decoderBlockOutChannels = [64, 64, 64, 64]
        latentChannels = 4
        upsamplingScalingFactor = 2
        numEncoderBlocks = [1, 3, 3, 3]
        numDecoderBlocks = [3, 3, 3, 1]
        scalingFactor = 1
    }

    public init(from decoder: any Decoder) throws {
        let unsupported = try decoder.container(keyedBy: UnsupportedKeys.self)
        try unsupported.require(.actFn, String.self, isAbsentOr: "relu", "only ReLU is implemented")
        try unsupported.require(.upsampleFn, String.self, isAbsentOr: "nearest", "only nearest upsampling is implemented")
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutoencoderTinyConfig()
        inChannels = try c.value(.inChannels, default: d.inChannels)
        outChannels = try c.value(.outChannels, default: d.outChannels)
        encoderBlockOutChannels = try c.value(.encoderBlockOutChannels, default: d.encoderBlockOutChannels)
        decoderBlockOutChannels = try c.value(.decoderBlockOutChannels, default: d.decoderBlockOutChannels)
        latentChannels = try c.value(.latentChannels, default: d.latentChannels)
        upsamplingScalingFactor = try c.value(.upsamplingScalingFactor, default: d.upsamplingScalingFactor)
        numEncoderBlocks = try c.value(.numEncoderBlocks, default: d.numEncoderBlocks)
        numDecoderBlocks = try c.value(.numDecoderBlocks, default: d.numDecoderBlocks)
        scalingFactor = try c.value(.scalingFactor, default: d.scalingFactor)

        try c.requireRange(.inChannels, [inChannels], ConfigLimits.extent)
        try c.requireRange(.outChannels, [outChannels], ConfigLimits.extent)
        try c.requireRange(.latentChannels, [latentChannels], ConfigLimits.extent)
        try c.requireRange(.encoderBlockOutChannels, encoderBlockOutChannels, ConfigLimits.extent)
        try c.requireRange(.decoderBlockOutChannels, decoderBlockOutChannels, ConfigLimits.extent)
        try c.requireRange(.numEncoderBlocks, numEncoderBlocks, 0...ConfigLimits.layers.upperBound)
        try c.requireRange(.numDecoderBlocks, numDecoderBlocks, 0...ConfigLimits.layers.upperBound)
        try c.requireRange(.upsamplingScalingFactor, [upsamplingScalingFactor], 1...16)
        guard !encoderBlockOutChannels.isEmpty, encoderBlockOutChannels.count == numEncoderBlocks.count else {
            throw c.unsupported(.numEncoderBlocks, "\(numEncoderBlocks.count) entries for \(encoderBlockOutChannels.count) encoder levels")
        }
        guard !decoderBlockOutChannels.isEmpty, decoderBlockOutChannels.count == numDecoderBlocks.count else {
            throw c.unsupported(.numDecoderBlocks, "\(numDecoderBlocks.count) entries for \(decoderBlockOutChannels.count) decoder levels")
        }
        guard scalingFactor.isFinite, scalingFactor > 0 else {
            throw c.unsupported(.scalingFactor, "must be a positive number (got \(scalingFactor))")
        }
    }

    /// How many times the decoder enlarges latents (`2^(levels - 1)` for TAESD's 2x).
    public var decoderUpscale: Int {
        (0..<(decoderBlockOutChannels.count - 1)).reduce(1) { product, _ in product * upsamplingScalingFactor }
    }
}
