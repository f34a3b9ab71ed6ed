import EaselTensor
import Foundation

/// CLIP's text encoder, as transformers' `CLIPTextModel` and `CLIPTextModelWithProjection`:
/// token and position embeddings, `num_hidden_layers` pre-norm causal transformer layers, a
/// final layer norm, and the pooled output taken at each prompt's end token (projected by
/// `text_projection` when the checkpoint has one).
///
/// Built from `text_encoder/config.json`; weights are found under either name form in use:
/// `text_model.encoder.layers.0...` (published checkpoints, `CLIPTextModelWithProjection`)
/// or `encoder.layers.0...` (`CLIPTextModel` as transformers 5 saves it). A
/// `text_projection.weight` beside them makes it the model with projection.
public struct CLIPTextModel: Sendable {
    public let config: CLIPTextConfig
    /// The prefix the checkpoint's names carry: `"text_model."` or `""`.
    public let weightPrefix: String
    let embeddings: CLIPTextEmbeddings
    let layers: [CLIPEncoderLayer]
    let finalNormWeight: Tensor, finalNormBias: Tensor
    /// `[projection_dim, D]`, or nil for the plain `CLIPTextModel`.
    let projection: Tensor?

    /// Whether the pooled output is projected (`CLIPTextModelWithProjection`).
    public var hasProjection: Bool { projection != nil }

    /// Builds the model from `config`, asking `weights` for every parameter by name and shape.
    /// The caller checks afterwards that nothing was left over (`StrictWeights.checkAllConsumed`,
    /// allowing `.buffers` for the `position_ids` some checkpoints carry).
    public init(config: CLIPTextConfig, weights: any WeightSource) throws {
        self.config = config
        let text = try weights.scoped(firstOf: ["text_model.", ""], containing: "embeddings.token_embedding.weight")
        weightPrefix = text.prefix
        embeddings = try CLIPTextEmbeddings(config: config, weights: text.scoped("embeddings."))
        layers = try (0..<config.numHiddenLayers).map { i in
            try CLIPEncoderLayer(config: config, weights: text.scoped("encoder.layers.\(i)."))
        }
        finalNormWeight = try text.tensor("final_layer_norm.weight", shape: [config.hiddenSize])
        finalNormBias = try text.tensor("final_layer_norm.bias", shape: [config.hiddenSize])
        projection = try weights.contains("text_projection.weight")
            ? weights.matrix("text_projection.weight", shape: [config.projectionDim, config.hiddenSize]) : nil
    }

    /// Loads a `text_encoder/` folder (`config.json` and its safetensors weights) strictly:
    /// every tensor must be used, except a `position_ids` buffer; `lora`'s layers for `role`
    /// (the text encoder, or SDXL's second) are fused into the weights.
    public static func load(from directory: URL, variant: String? = nil,
                            matrixType: ElementType = .float32, lora: LoRAFusion = .none,
                            role: LoRAComponent = .textEncoder) throws -> CLIPTextModel {
        let component = DiffusersComponent(name: directory.lastPathComponent, directory: directory)
        let config = try component.config(CLIPTextConfig.self)
        let weights = try lora.fusing(into: try component.weights(variant: variant, matrixType: matrixType), role)
        let model = try CLIPTextModel(config: config, weights: weights)
        try weights.checkAllConsumed(allowing: .buffers)
        return model
    }

    /// Encodes a batch of token-id rows, all of the same length (77 for Stable Diffusion).
    ///
    /// - `outputHiddenStates`: also return the input of every layer and the last layer's
    ///   output (transformers' `output_hidden_states=True`). They are the tensors the forward
    ///   pass makes anyway, so keeping them costs only their memory (`B * N * D` floats each).
    public func callAsFunction(_ ids: [[Int]], outputHiddenStates: Bool = false) throws -> CLIPTextModelOutput {
        try validate(ids)
        var hidden = embeddings(ids)  // [B, N, D]
        var hiddenStates: [Tensor] = []
        if outputHiddenStates { hiddenStates.reserveCapacity(layers.count + 1) }
        for layer in layers {
            if outputHiddenStates { hiddenStates.append(hidden) }
            hidden = layer(hidden)
        }
        if outputHiddenStates { hiddenStates.append(hidden) }
        let last = finalLayerNorm(hidden)  // [B, N, D]

        let (batch, length, d) = (ids.count, ids[0].count, config.hiddenSize)
        let endPositions = ids.map(endTokenPosition)
        var pooled = last.reshaped([batch * length, d])
            .gatherRows(endPositions.enumerated().map { $0.offset * length + $0.element })  // [B, D]
        if let projection { pooled = Tensor.linear(pooled, weight: projection) }  // [B, projection_dim]
        return CLIPTextModelOutput(
            lastHiddenState: last, hiddenStates: hiddenStates, pooled: pooled, endTokenPositions: endPositions)
    }

    /// The encoder's final layer norm, for callers that condition on an earlier layer's
    /// hidden state normalised the same way (diffusers' `clip_skip`).
    public func finalLayerNorm(_ hidden: Tensor) -> Tensor {
        hidden.layerNorm(weight: finalNormWeight, bias: finalNormBias, epsilon: config.layerNormEps)
    }

    /// Where the pooled output is read in one row of ids, as transformers decides it: with
    /// the legacy `eos_token_id` 2 (SD 1.x and 2.x configs) the first position of the row's
    /// highest id (CLIP's end token has the highest id of its vocabulary); otherwise the
    /// first position holding `eos_token_id`, or 0 when there is none.
    func endTokenPosition(_ row: [Int]) -> Int {
        if config.eosTokenId == 2 {
            var best = 0
            for (i, id) in row.enumerated() where id > row[best] { best = i }
            return best
        }
        return row.firstIndex(of: config.eosTokenId) ?? 0
    }

    private func validate(_ ids: [[Int]]) throws {
        guard let first = ids.first else { throw CLIPTextModelError.emptyBatch }
        guard first.count > 0, first.count <= config.maxPositionEmbeddings else {
            throw CLIPTextModelError.badSequenceLength(first.count, maximum: config.maxPositionEmbeddings)
        }
        for (row, tokens) in ids.enumerated() {
            guard tokens.count == first.count else {
                throw CLIPTextModelError.raggedBatch(row: row, length: tokens.count, expected: first.count)
            }
            if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= config.vocabSize }) {
                throw CLIPTextModelError.tokenOutOfRange(row: row, position: bad, id: tokens[bad], vocabSize: config.vocabSize)
            }
        }
    }
}

/// What `CLIPTextModel` returns for a batch of `B` rows of `N` ids.
public struct CLIPTextModelOutput: Sendable {
    /// `[B, N, D]`: the last layer's output after the final layer norm.
    public var lastHiddenState: Tensor
    /// Empty unless asked for; else `num_hidden_layers + 1` tensors `[B, N, D]`, as
    /// transformers' `hidden_states`: `[0]` the embeddings, `[i]` the output of layer `i`
    /// (before the final layer norm, which only `lastHiddenState` has). SD 2.x with
    /// `clip_skip` and SDXL condition on `hiddenStates[count - 2]`.
    public var hiddenStates: [Tensor]
    /// `[B, D]` (`CLIPTextModel`'s `pooler_output`), or `[B, projection_dim]` when the model
    /// has a projection (`CLIPTextModelWithProjection`'s `text_embeds`).
    public var pooled: Tensor
    /// The position in each row the pooled output was read from.
    public var endTokenPositions: [Int]
}

/// Input the text encoder cannot encode.
public enum CLIPTextModelError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyBatch
    case badSequenceLength(Int, maximum: Int)
    case raggedBatch(row: Int, length: Int, expected: Int)
    case tokenOutOfRange(row: Int, position: Int, id: Int, vocabSize: Int)

    public var description: String {
        switch self {
        case .emptyBatch:
            return "text encoder: no prompts to encode"
        case let .badSequenceLength(length, maximum):
            return "text encoder: \(length) tokens per prompt; the model takes 1 to \(maximum)"
        case let .raggedBatch(row, length, expected):
            return "text encoder: prompt \(row) has \(length) tokens, the first has \(expected)"
        case let .tokenOutOfRange(row, position, id, vocabSize):
            return "text encoder: prompt \(row), position \(position): token id \(id) is outside the vocabulary (0..<\(vocabSize))"
        }
    }
}
