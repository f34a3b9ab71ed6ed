import EaselTensor

/// Token plus position embeddings at the bottom of CLIP's text encoder, as transformers'
/// `CLIPTextEmbeddings`: row `id` of `token_embedding` plus row `position` of
/// `position_embedding`, positions counted from 0 in every sequence.
///
/// Weights (relative to `embeddings.`): `token_embedding.weight` `[V, D]`,
/// `position_embedding.weight` `[P, D]`. The `position_ids` buffer older checkpoints carry
/// (an int64 `arange(P)`) is never loaded: positions are always `0..<N`.
struct CLIPTextEmbeddings: Sendable {
    let tokenEmbedding: Tensor
    let positionEmbedding: Tensor

    init(config: CLIPTextConfig, weights: any WeightSource) throws {
        let d = config.hiddenSize
        tokenEmbedding = try weights.tensor("token_embedding.weight", shape: [config.vocabSize, d])
        positionEmbedding = try weights.tensor("position_embedding.weight", shape: [config.maxPositionEmbeddings, d])
    }

    /// `ids`: `B` rows of `N` token ids, already checked against the vocabulary and the
    /// number of positions. Returns `[B, N, D]`.
    func callAsFunction(_ ids: [[Int]]) -> Tensor {
        let batch = ids.count, length = ids[0].count, d = tokenEmbedding.shape[1]
        let tokens = tokenEmbedding.gatherRows(ids.flatMap { $0 }).reshaped([batch, length, d])
        let positions = length == positionEmbedding.shape[0]
            ? positionEmbedding : positionEmbedding.sliced(axis: 0, 0..<length)  // [N, D]
        return tokens + positions
    }
}
