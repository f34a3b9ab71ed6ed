import EaselTensor

/// Stable Diffusion's VAE, as diffusers' `AutoencoderKL`
/// (`models/autoencoders/autoencoder_kl.py`, 0.42.1), built from its `config.json` with
/// weights under diffusers' names (`encoder.`, `decoder.`, `quant_conv.`, `post_quant_conv.`).
///
/// `decode` maps latents to images and `encode` images to a latent distribution; neither
/// applies `scalingFactor` — as in diffusers, the pipeline divides latents by it before
/// decoding and multiplies encoded latents by it.
public struct AutoencoderKL: Sendable {
    public let config: AutoencoderKLConfig
    let encoder: VAEEncoder?
    let quantConv: Conv2dLayer?
    let decoder: VAEDecoder
    let postQuantConv: Conv2dLayer?

    /// Which halves to build: text-to-image needs only the decoder.
    public enum Parts: Sendable {
        case decoderOnly
        case encoderAndDecoder
    }

    /// Builds the model from `weights` by diffusers name and shape (the encoder and
    /// `quant_conv` are not read with `.decoderOnly`).
    public init(config: AutoencoderKLConfig, weights: any WeightSource, parts: Parts = .encoderAndDecoder) throws {
        self.config = config
        let latent = config.latentChannels
        if parts == .encoderAndDecoder {
            encoder = try VAEEncoder(weights.scoped("encoder."), config: config)
            quantConv = config.useQuantConv
                ? try Conv2dLayer(weights.scoped("quant_conv."), input: 2 * latent, output: 2 * latent, kernel: 1)
                : nil
        } else {
            encoder = nil
            quantConv = nil
        }
        decoder = try VAEDecoder(weights.scoped("decoder."), config: config)
        postQuantConv = config.usePostQuantConv
            ? try Conv2dLayer(weights.scoped("post_quant_conv."), input: latent, output: latent, kernel: 1)
            : nil
    }

    /// Loads a diffusers `vae/` folder strictly: every weight of the built parts by name
    /// and shape, and no tensor left unused except, with `.decoderOnly`, the encoder's.
    public static func load(from component: DiffusersComponent, parts: Parts = .encoderAndDecoder,
                            variant: String? = nil, matrixType: ElementType = .float32) throws -> AutoencoderKL {
        let config = try component.config(AutoencoderKLConfig.self)
        let weights = try component.weights(variant: variant, matrixType: matrixType)
        let model = try AutoencoderKL(config: config, weights: weights, parts: parts)
        try weights.checkAllConsumed(allowing: parts == .decoderOnly ? .prefixes(["encoder.", "quant_conv."]) : .none)
        return model
    }

    /// Whether `encode` is available (the model was built with `.encoderAndDecoder`).
    public var hasEncoder: Bool { encoder != nil }

    /// Latents `[B, latent, h, w]` (already divided by `scalingFactor`) -> image
    /// `[B, out, 8h, 8w]`, about [-1, 1] (not clamped).
    public func decode(_ latents: Tensor) -> Tensor {
        precondition(latents.rank == 4 && latents.shape[1] == config.latentChannels,
                     "VAE decode takes [B, \(config.latentChannels), h, w], got \(latents.shape)")
        return decoder(postQuantConv.map { $0(latents) } ?? latents)
    }

    /// Image `[B, in, H, W]` in [-1, 1] -> the latent distribution (not scaled by
    /// `scalingFactor`). The model must have been built with `.encoderAndDecoder`.
    public func encode(_ image: Tensor) -> DiagonalGaussianDistribution {
        guard let encoder else { preconditionFailure("AutoencoderKL was built without its encoder (.decoderOnly)") }
        precondition(image.rank == 4 && image.shape[1] == config.inChannels,
                     "VAE encode takes [B, \(config.inChannels), H, W], got \(image.shape)")
        let moments = encoder(image)
        return DiagonalGaussianDistribution(moments: quantConv.map { $0(moments) } ?? moments)
    }
}
