import EaselTensor

/// The timestep MLP, as diffusers' `TimestepEmbedding` (`models/embeddings.py`) with SiLU
/// and no post-activation: `linear_2(silu(linear_1(x + cond_proj(condition))))`.
///
/// Weights (under `time_embedding.`): `linear_1` `[D, C]`, `linear_2` `[D, D]`, with biases;
/// `cond_proj` `[C, P]` without bias when the UNet has a `time_cond_proj_dim` P (LCM's
/// guidance embedding enters there).
struct TimestepEmbedding: Sendable {
    let linear1: LinearLayer
    let linear2: LinearLayer
    let condProj: LinearLayer?

    init(_ weights: any WeightSource, input: Int, embedding: Int, condProjDim: Int? = nil) throws {
        linear1 = try LinearLayer(weights.scoped("linear_1."), input: input, output: embedding)
        linear2 = try LinearLayer(weights.scoped("linear_2."), input: embedding, output: embedding)
        condProj = try condProjDim.map {
            try LinearLayer(weights.scoped("cond_proj."), input: $0, output: input, bias: false)
        }
    }

    /// `[B, C]` (and `[B, P]`) -> `[B, D]`. A condition is optional even when the model has
    /// `cond_proj`, as in diffusers.
    func callAsFunction(_ x: Tensor, condition: Tensor? = nil) -> Tensor {
        var sample = x
        if let condition, let condProj {
            sample = sample + condProj(condition)
        }
        return linear2(linear1(sample).silu())
    }
}
