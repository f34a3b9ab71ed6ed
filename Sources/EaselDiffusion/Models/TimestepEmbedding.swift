import EaselTensor

/// The timestep MLP, as diffusers' `TimestepEmbedding` (`models/embeddings.py`) with
/// SiLU and no condition projection or post-activation: `linear_2(silu(linear_1(x)))`.
///
/// Weights (under `time_embedding.`): `linear_1` `[D, C]`, `linear_2` `[D, D]`, with biases.
struct TimestepEmbedding: Sendable {
    let linear1: LinearLayer
    let linear2: LinearLayer

    init(_ weights: any WeightSource, input: Int, embedding: Int) throws {
        linear1 = try LinearLayer(weights.scoped("linear_1."), input: input, output: embedding)
        linear2 = try LinearLayer(weights.scoped("linear_2."), input: embedding, output: embedding)
    }

    /// `[B, C]` -> `[B, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        linear2(linear1(x).silu())
    }
}
