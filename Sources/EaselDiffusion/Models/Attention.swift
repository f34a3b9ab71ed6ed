import EaselTensor
import Foundation

/// Multi-head attention with diffusers' weight names, as `Attention` in
/// `models/attention_processor.py` run by `AttnProcessor2_0` (scaled dot-product attention
/// with the default scale `1 / sqrt(head_dim)`).
///
/// Two uses in Stable Diffusion:
/// - in a `BasicTransformerBlock` (`attn1` self-attention, `attn2` cross-attention over the
///   text embeddings): tokens in, tokens out; `to_q`/`to_k`/`to_v` without bias;
/// - in the VAE's `UNetMidBlock2D`: one head over the `H*W` pixels with the image's
///   channels as features, a `group_norm` first, biases everywhere, and the input added
///   back (diffusers' `_from_deprecated_attn_block`, `residual_connection=True`).
///
/// `upcast_attention`/`upcast_softmax` only matter for half precision; Easel computes the
/// softmax in float32 always, and the two products in the precision of the layer's weights
/// (bfloat16 products with float32 sums when the model is loaded in bf16); with scaled
/// dot-product attention the scale is applied the same way either way.
///
/// Weights (relative to the module): `to_q`, `to_k`, `to_v` `.weight` `[H*D, in]`
/// (`.bias` when `bias`), `to_out.0.weight` `[out, H*D]`, `to_out.0.bias`, and
/// `group_norm.weight`/`.bias` when normed.
struct Attention: Sendable {
    let heads: Int
    let toQ: LinearLayer, toK: LinearLayer, toV: LinearLayer
    let toOut: LinearLayer
    let groupNorm: GroupNormLayer?
    let rescaleOutputFactor: Float
    /// Which layer's keys and values a `CrossAttentionMemo` holds.
    private let identity = LayerIdentity()

    /// - `queryDim`: width of the tokens attending; also the output width.
    /// - `crossAttentionDim`: width of the tokens attended to (nil: self-attention).
    /// - `heads`, `headDim`: the inner width is `heads * headDim`.
    /// - `bias`: whether `to_q`/`to_k`/`to_v` have biases (`to_out.0` always does).
    /// - `normGroups`, `normEpsilon`: a `group_norm` over the input (VAE attention).
    init(_ weights: any WeightSource, queryDim: Int, crossAttentionDim: Int? = nil,
         heads: Int, headDim: Int, bias: Bool = false,
         normGroups: Int? = nil, normEpsilon: Double = 1e-5, rescaleOutputFactor: Double = 1) throws {
        let inner = heads * headDim
        let contextDim = crossAttentionDim ?? queryDim
        self.heads = heads
        toQ = try LinearLayer(weights.scoped("to_q."), input: queryDim, output: inner, bias: bias)
        toK = try LinearLayer(weights.scoped("to_k."), input: contextDim, output: inner, bias: bias)
        toV = try LinearLayer(weights.scoped("to_v."), input: contextDim, output: inner, bias: bias)
        toOut = try LinearLayer(weights.scoped("to_out.0."), input: inner, output: queryDim)
        groupNorm = try normGroups.map {
            try GroupNormLayer(weights.scoped("group_norm."), groups: $0, channels: queryDim, epsilon: normEpsilon)
        }
        self.rescaleOutputFactor = Float(rescaleOutputFactor)
    }

    /// Token attention: `x` `[B, N, C]` attends to `context` `[B, M, Cc]` (itself when nil)
    /// -> `[B, N, C]`. Heads stay packed in the feature axis throughout.
    func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        self(x, context: CrossAttentionContext(tokens: context ?? x, memo: nil))
    }

    /// Cross-attention of `x` `[B, N, C]` to `context`'s tokens, their keys and values from
    /// its memo when an earlier step made them (the same products: the same bits).
    func callAsFunction(_ x: Tensor, context: CrossAttentionContext) -> Tensor {
        let (k, v) = context.keysAndValues(of: identity) { (toK(context.tokens), toV(context.tokens)) }  // [B, M, H*D]
        let attended = Tensor.attention(query: toQ(x), key: k, value: v, heads: heads, multiplyIn: toQ.weight.elementType)
        return toOut(attended)                                      // [B, N, C]
    }

    /// Spatial self-attention over an image's pixels, as the VAE mid block applies it:
    /// `x` `[B, C, H, W]` -> `[B, C, H, W]`, residual included.
    func spatial(_ x: Tensor) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let normed = groupNorm.map { $0(x) } ?? x
        let tokens = normed.reshaped([batch, channels, height * width]).transposed(1, 2)  // [B, HW, C]
        var out = self(tokens).transposed(1, 2).reshaped([batch, channels, height, width])
        out += x
        return rescaleOutputFactor == 1 ? out : out / rescaleOutputFactor
    }
}

/// What a cross-attention identifies itself by in a `CrossAttentionMemo`.
final class LayerIdentity: Sendable {}

/// The tokens a UNet's cross-attentions attend to (`[B, M, Dc]`, diffusers'
/// `encoder_hidden_states`), and where their keys and values are kept across steps.
struct CrossAttentionContext {
    let tokens: Tensor
    let memo: CrossAttentionMemo?

    /// Layer `layer`'s keys and values of `tokens`: from the memo, or made (and kept there).
    func keysAndValues(of layer: LayerIdentity, _ make: () -> (Tensor, Tensor)) -> (Tensor, Tensor) {
        guard let memo else { return make() }
        return memo.keysAndValues(of: layer, for: tokens, make)
    }
}

/// Every cross-attention layer's keys and values of one conditioning's tokens, made at the
/// first step and reused by the rest: the tokens do not change from step to step, so
/// neither do their projections (for SD 1.5, 16 layers' `to_k` and `to_v` of 77 tokens per
/// row; for SDXL, 70 layers' of 2048-wide tokens). A `DenoisingLoop` keeps one.
///
/// Bound to the tokens it was first used with (their storage and shape): given other
/// tokens, or the same storage reshaped, it forgets what it held.
public final class CrossAttentionMemo: @unchecked Sendable {
    private let lock = NSLock()
    /// The tokens' storage (kept, so that its identity stays theirs) and shape.
    private var tokens: (storage: TensorStorage, shape: [Int])?
    private var entries: [ObjectIdentifier: (layer: LayerIdentity, keys: Tensor, values: Tensor)] = [:]

    public init() {}

    /// Layers whose keys and values are held.
    public var count: Int { lock.withLock { entries.count } }

    func keysAndValues(of layer: LayerIdentity, for tokens: Tensor, _ make: () -> (Tensor, Tensor)) -> (Tensor, Tensor) {
        let key = ObjectIdentifier(layer)
        let held = lock.withLock { () -> (Tensor, Tensor)? in
            if !isBound(to: tokens) {
                self.tokens = (tokens.storage, tokens.shape)
                entries = [:]
            }
            return entries[key].map { ($0.keys, $0.values) }
        }
        if let held { return held }
        let made = make()
        lock.withLock {
            if isBound(to: tokens) { entries[key] = (layer, made.0, made.1) }
        }
        return made
    }

    /// Whether the entries are `tokens`' (call under the lock).
    private func isBound(to tokens: Tensor) -> Bool {
        self.tokens.map { $0.storage === tokens.storage && $0.shape == tokens.shape } ?? false
    }
}
