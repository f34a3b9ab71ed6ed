import EaselTensor

/// The feed-forward half of a `BasicTransformerBlock`, as diffusers' `FeedForward` with
/// its default `activation_fn="geglu"`: `net.2(GEGLU(x))`, where GEGLU (`net.0`) projects
/// to twice the inner width and gates one half by the exact GELU of the other.
///
/// Weights (relative to `ff.`): `net.0.proj` `[2*I, D]`, `net.2` `[D, I]`, with biases;
/// `I = 4 * D` (diffusers' `mult=4`).
struct FeedForward: Sendable {
    let projIn: LinearLayer
    let projOut: LinearLayer

    init(_ weights: any WeightSource, dim: Int, mult: Int = 4) throws {
        let inner = dim * mult
        projIn = try LinearLayer(weights.scoped("net.0.proj."), input: dim, output: 2 * inner)
        projOut = try LinearLayer(weights.scoped("net.2."), input: inner, output: dim)
    }

    /// `[B, N, D]` -> `[B, N, D]`.
    func callAsFunction(_ x: Tensor) -> Tensor {
        // [B, N, 2I] -> [B, N, I] -> [B, N, D]
        projOut(Tensor.linearGEGLU(x, weight: projIn.weight, bias: projIn.bias))
    }
}
