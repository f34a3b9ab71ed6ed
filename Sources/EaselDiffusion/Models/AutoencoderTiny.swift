import EaselTensor
import Foundation

/// The tiny autoencoder (madebyollin's TAESD), as diffusers' `AutoencoderTiny`
/// (`models/autoencoders/autoencoder_tiny.py`, 0.42.1): Conv/ReLU/upsample only, about 17x
/// cheaper to decode than the VAE at 512x512, decoding Stable Diffusion's latents to
/// nearly the same pictures. Interchangeable with the VAE at the end of a pipeline.
///
/// Loads from a diffusers folder (`config.json` + `diffusion_pytorch_model.safetensors`,
/// weights `encoder.layers.N...`, `decoder.layers.N...`) or from madebyollin's original
/// files (`taesd_decoder.safetensors` and, beside it, `taesd_encoder.safetensors`; also
/// `taesdxl_*`), whose keys are `nn.Sequential` indices (`N.conv.0.weight`; the decoder's
/// are one higher, after its `Clamp`) and whose architecture is read from the weights.
/// Loading is strict either way: a missing, mis-shaped or unused tensor is an error naming it.
///
/// As in diffusers, neither `decode` nor `encode` applies `scalingFactor` (1 for TAESD):
/// the pipeline divides by it.
public struct AutoencoderTiny: Sendable {
    public let config: AutoencoderTinyConfig
    let encoder: EncoderTiny?
    let decoder: DecoderTiny
    /// Where it was loaded from, for messages.
    public let location: String

    /// Builds the model from weight sources under `EncoderTiny`'s and `DecoderTiny`'s own
    /// names (`layers.N...`); without `encoder` only decoding is possible.
    init(config: AutoencoderTinyConfig, encoder: (any WeightSource)?, decoder: any WeightSource, location: String) throws {
        self.config = config
        self.encoder = try encoder.map { try EncoderTiny($0, config: config) }
        self.decoder = try DecoderTiny(decoder, config: config)
        self.location = location
    }

    /// Whether `encode` is available.
    public var hasEncoder: Bool { encoder != nil }

    /// Latents `[B, latent, h, w]` (already divided by `scalingFactor`) -> image
    /// `[B, out, 8h, 8w]` for TAESD, about [-1, 1] (not clamped).
    public func decode(_ latents: Tensor) -> Tensor {
        precondition(latents.rank == 4 && latents.shape[1] == config.latentChannels,
                     "tiny autoencoder input must be [B, \(config.latentChannels), h, w], got \(latents.shape)")
        return decoder(latents)
    }

    /// Image `[B, in, H, W]` in [-1, 1] -> latents `[B, latent, H/8, W/8]` (diffusers'
    /// `AutoencoderTiny.encode(...).latents`, not multiplied by `scalingFactor`).
    public func encode(_ image: Tensor) -> Tensor {
        guard let encoder else { preconditionFailure("this tiny autoencoder was loaded without its encoder") }
        precondition(image.rank == 4 && image.shape[1] == config.inChannels,
                     "tiny autoencoder image must be [B, \(config.inChannels), H, W], got \(image.shape)")
        return encoder(image)
    }

    // MARK: - Loading

    /// Loads from `url`: a diffusers folder (with `config.json`), a folder holding
    /// madebyollin's `*_decoder.safetensors` (and `*_encoder.safetensors`), or such a
    /// decoder file itself (its encoder is taken from beside it when present). `precision`
    /// is the element type its convolutions' weights are kept and multiplied in, as the
    /// model's (`Precision`).
    public static func load(from url: URL, precision: Precision = .float32) throws -> AutoencoderTiny {
        let matrixType = precision.matrixType
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CheckpointError.missingFile(path: url.path, what: "tiny autoencoder")
        }
        if isDirectory.boolValue {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) {
                return try loadDiffusersFolder(url, matrixType: matrixType)
            }
            let files = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            guard let decoder = files.sorted().first(where: { $0.hasSuffix("_decoder.safetensors") }) else {
                throw CheckpointError.missingFile(
                    path: url.path, what: "tiny autoencoder (a diffusers config.json, or madebyollin's taesd_decoder.safetensors)")
            }
            return try loadOriginal(decoder: url.appendingPathComponent(decoder), matrixType: matrixType)
        }
        guard url.lastPathComponent.hasSuffix("_decoder.safetensors") else {
            throw CheckpointError.missingFile(
                path: url.path, what: "tiny autoencoder decoder (a file named like taesd_decoder.safetensors, or a folder)")
        }
        return try loadOriginal(decoder: url, matrixType: matrixType)
    }

    /// A diffusers `AutoencoderTiny` folder, encoder and decoder, strictly.
    static func loadDiffusersFolder(_ url: URL, matrixType: ElementType = .float32) throws -> AutoencoderTiny {
        let component = DiffusersComponent(name: "tiny autoencoder", directory: url)
        let config = try component.config(AutoencoderTinyConfig.self)
        let weights = try component.weights(matrixType: matrixType)
        let model = try AutoencoderTiny(config: config, encoder: weights.scoped("encoder."),
                                        decoder: weights.scoped("decoder."), location: url.path)
        try weights.checkAllConsumed()
        return model
    }

    /// madebyollin's `*_decoder.safetensors`, and the `*_encoder.safetensors` beside it
    /// when there is one.
    static func loadOriginal(decoder url: URL, matrixType: ElementType = .float32) throws -> AutoencoderTiny {
        let decoderFile = try SafetensorsFile(url: url)
        // The original decoder starts with a weightless Clamp: diffusers' index = original - 1.
        let decoderWeights = StrictWeights(try OriginalTinyLayout.renamed(decoderFile, shift: -1), matrixType: matrixType)
        let encoderURL = url.deletingLastPathComponent().appendingPathComponent(
            url.lastPathComponent.replacingOccurrences(of: "_decoder.safetensors", with: "_encoder.safetensors"))
        var encoderWeights: StrictWeights?
        if FileManager.default.fileExists(atPath: encoderURL.path) {
            encoderWeights = StrictWeights(try OriginalTinyLayout.renamed(try SafetensorsFile(url: encoderURL), shift: 0),
                                           matrixType: matrixType)
        }
        let config = try OriginalTinyLayout.config(decoder: decoderWeights, encoder: encoderWeights)
        let model = try AutoencoderTiny(config: config, encoder: encoderWeights, decoder: decoderWeights,
                                        location: url.path)
        try decoderWeights.checkAllConsumed()
        try encoderWeights?.checkAllConsumed()
        return model
    }
}

/// madebyollin's original TAESD files: `nn.Sequential` keys renamed to diffusers'
/// `layers.N...`, and the architecture (channels, blocks per level, latent channels) read
/// from which indices hold convolutions, blocks or nothing.
enum OriginalTinyLayout {
    /// `archive` with every `N.rest` exposed as `layers.(N + shift).rest`.
    static func renamed(_ archive: any TensorArchive, shift: Int) throws -> RenamedArchive {
        var mapping: [String: RenamedArchive.Source] = [:]
        for name in archive.names {
            let parts = name.split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let index = Int(parts[0]), index + shift >= 0 else {
                throw CheckpointError.unusedTensors(names: [name], location: archive.location + " (not a TAESD key)")
            }
            mapping["layers.\(index + shift).\(parts[1])"] = RenamedArchive.Source(name)
        }
        return RenamedArchive(base: archive, mapping: mapping)
    }

    /// What sits at `layers.index`.
    enum Slot: Equatable {
        case conv(output: Int, input: Int, bias: Bool)
        case block(channels: Int)
        case empty
    }

    static func slot(_ index: Int, in weights: any WeightSource) -> Slot {
        if let shape = weights.shape(of: "layers.\(index).weight"), shape.count == 4 {
            return .conv(output: shape[0], input: shape[1], bias: weights.contains("layers.\(index).bias"))
        }
        if let shape = weights.shape(of: "layers.\(index).conv.0.weight"), shape.count == 4 {
            return .block(channels: shape[0])
        }
        return .empty
    }

    /// The configuration the weights describe (upsampling 2x, as TAESD's).
    static func config(decoder: any WeightSource, encoder: (any WeightSource)?) throws -> AutoencoderTinyConfig {
        var config = AutoencoderTinyConfig()
        func bad(_ weights: any WeightSource, _ index: Int, _ what: String) -> CheckpointError {
            CheckpointError.missingTensor(name: "layers.\(index).weight", location: weights.location,
                                          hint: "not a TAESD layout: \(what)")
        }
        // Decoder: conv, ReLU, then per level blocks, (upsample, bias-free conv) or the final conv.
        guard case let .conv(first, latent, true) = slot(0, in: decoder) else {
            throw bad(decoder, 0, "expected the first convolution (original key 1.weight, 1.bias)")
        }
        var channels: [Int] = [], blocks: [Int] = []
        var width = first, count = 0, index = 2
        while true {
            switch slot(index, in: decoder) {
            case .block:
                count += 1
                index += 1
            case .empty:
                guard case let .conv(output, _, false) = slot(index + 1, in: decoder) else {
                    throw bad(decoder, index + 1, "expected a bias-free convolution after upsampling")
                }
                channels.append(width)
                blocks.append(count)
                width = output
                count = 0
                index += 2
            case let .conv(output, input, true):
                channels.append(input)
                blocks.append(count)
                config.outChannels = output
                config.latentChannels = latent
                config.decoderBlockOutChannels = channels
                config.numDecoderBlocks = blocks
                if let encoder { try readEncoder(encoder, into: &config, bad: bad) }
                return config
            case .conv(_, _, false):
                throw bad(decoder, index, "a bias-free convolution without upsampling before it")
            }
            guard index < 10_000 else { throw bad(decoder, index, "no final convolution") }
        }
    }

    /// Encoder: conv, blocks, then per level a bias-free stride-2 conv and blocks, final conv.
    private static func readEncoder(_ encoder: any WeightSource, into config: inout AutoencoderTinyConfig,
                                    bad: (any WeightSource, Int, String) -> CheckpointError) throws {
        guard case let .conv(first, input, true) = slot(0, in: encoder) else {
            throw bad(encoder, 0, "expected the first convolution (0.weight, 0.bias)")
        }
        var channels: [Int] = [], blocks: [Int] = []
        var width = first, count = 0, index = 1
        while true {
            switch slot(index, in: encoder) {
            case .block:
                count += 1
            case let .conv(output, _, false):
                channels.append(width)
                blocks.append(count)
                width = output
                count = 0
            case let .conv(output, _, true):
                channels.append(width)
                blocks.append(count)
                guard output == config.latentChannels else {
                    throw CheckpointError.shapeMismatch(name: "layers.\(index).weight",
                                                       expected: [config.latentChannels], found: [output],
                                                       file: encoder.location + " (encoder latent channels vs the decoder's)")
                }
                config.inChannels = input
                config.encoderBlockOutChannels = channels
                config.numEncoderBlocks = blocks
                return
            case .empty:
                throw bad(encoder, index, "a gap in the encoder's layers")
            }
            index += 1
            guard index < 10_000 else { throw bad(encoder, index, "no final convolution") }
        }
    }
}
