import EaselTensor
import Foundation

/// The configuration of CLIP's text encoder, decoded from a diffusers `text_encoder/config.json`
/// (transformers' `CLIPTextConfig`; SD 1.x, SD 2.x and both SDXL encoders use it).
///
/// Keys are transformers' constructor parameters. A key the file leaves out takes
/// transformers' default, so a config means here what it means there; a key that is present
/// but unusable (wrong type, unknown activation, a width that does not split into the heads)
/// is an error naming the field.
public struct CLIPTextConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: CLIPActivation
    public var layerNormEps: Float
    /// Width of `text_projection`'s output, used only when the checkpoint has a projection
    /// (`CLIPTextModelWithProjection`, SDXL's second encoder).
    public var projectionDim: Int
    /// Which token ends a prompt. The value 2 is the legacy one found in SD 1.x and 2.x
    /// configs, where transformers takes the highest id of each row as the end token instead.
    public var eosTokenId: Int
    public var padTokenId: Int?
    public var bosTokenId: Int?
    public var architectures: [String]?

    /// Width of one attention head.
    public var headDim: Int { hiddenSize / numAttentionHeads }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case projectionDim = "projection_dim"
        case eosTokenId = "eos_token_id"
        case padTokenId = "pad_token_id"
        case bosTokenId = "bos_token_id"
        case architectures
    }

    /// A configuration from its values (tests, code that builds models directly); the
    /// defaults are transformers' `CLIPTextConfig()` defaults.
    public init(
        vocabSize: Int = 49408, hiddenSize: Int = 512, intermediateSize: Int = 2048,
        numHiddenLayers: Int = 12, numAttentionHeads: Int = 8, maxPositionEmbeddings: Int = 77,
        hiddenAct: CLIPActivation = .quickGELU, layerNormEps: Float = 1e-5, projectionDim: Int = 512,
        eosTokenId: Int = 49407, padTokenId: Int? = 1, bosTokenId: Int? = 49406, architectures: [String]? = nil
    ) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
        self.projectionDim = projectionDim
        self.eosTokenId = eosTokenId
        self.padTokenId = padTokenId
        self.bosTokenId = bosTokenId
        self.architectures = architectures
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        func positive(_ key: CodingKeys, _ fallback: Int) throws -> Int {
            let value = try c.decodeIfPresent(Int.self, forKey: key) ?? fallback
            // Bounded above too: sizes multiply into tensor extents (see ConfigLimits).
            guard ConfigLimits.extent.contains(value) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c,
                    debugDescription: "must be 1 to \(ConfigLimits.extent.upperBound), got \(value)")
            }
            return value
        }
        vocabSize = try positive(.vocabSize, d.vocabSize)
        hiddenSize = try positive(.hiddenSize, d.hiddenSize)
        intermediateSize = try positive(.intermediateSize, d.intermediateSize)
        numHiddenLayers = try positive(.numHiddenLayers, d.numHiddenLayers)
        numAttentionHeads = try positive(.numAttentionHeads, d.numAttentionHeads)
        maxPositionEmbeddings = try positive(.maxPositionEmbeddings, d.maxPositionEmbeddings)
        projectionDim = try positive(.projectionDim, d.projectionDim)
        hiddenAct = try c.decodeIfPresent(CLIPActivation.self, forKey: .hiddenAct) ?? d.hiddenAct
        let eps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? Double(d.layerNormEps)
        guard eps > 0, eps.isFinite else {
            throw DecodingError.dataCorruptedError(forKey: .layerNormEps, in: c, debugDescription: "must be a positive number, got \(eps)")
        }
        layerNormEps = Float(eps)
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? d.eosTokenId
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? d.padTokenId
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId) ?? d.bosTokenId
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
        guard hiddenSize % numAttentionHeads == 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .hiddenSize, in: c,
                debugDescription: "\(hiddenSize) does not split into num_attention_heads = \(numAttentionHeads) heads")
        }
    }

    /// Reads `config.json` (or another file) at `url`; errors name the file and the field.
    public static func load(from url: URL) throws -> CLIPTextConfig {
        try ConfigFile.decode(CLIPTextConfig.self, from: url)
    }
}

/// The MLP's activation, by transformers' `hidden_act` name.
public enum CLIPActivation: String, Codable, Sendable, CaseIterable {
    /// `x * sigmoid(1.702 x)`: OpenAI's CLIP ViT-L/14 (SD 1.x, SDXL's first encoder).
    case quickGELU = "quick_gelu"
    /// Exact (erf) GELU: OpenCLIP's ViT-H/14 and bigG/14 (SD 2.x, SDXL's second encoder).
    case gelu = "gelu"
    /// The tanh approximation, under transformers' two names for it.
    case geluNew = "gelu_new"
    case geluPyTorchTanh = "gelu_pytorch_tanh"

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let value = CLIPActivation(rawValue: name) else {
            let known = Self.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown activation '\(name)' (known: \(known))")
        }
        self = value
    }

    /// Applies the activation elementwise.
    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .quickGELU: x.quickGELU()
        case .gelu: x.gelu()
        case .geluNew, .geluPyTorchTanh: x.gelu(approximation: .tanh)
        }
    }
}
