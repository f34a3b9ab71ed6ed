import EaselTensor

/// What the UNet is conditioned on besides the noisy latents and the timestep, for every
/// row of the batch: the token embeddings its cross-attention reads, and (SDXL) the pooled
/// text embedding and the added time ids its `text_time` embedding takes; for a
/// guidance-distilled UNet (LCM), the guidance embedding it adds to the timestep's.
///
/// One value, so a new model family adds fields here rather than arguments everywhere.
public struct Conditioning: Sendable {
    /// `[B, tokens, crossAttentionDim]`: diffusers' `encoder_hidden_states`.
    public var context: Tensor
    /// `[B, P]`: diffusers' `added_cond_kwargs["text_embeds"]` (SDXL), or nil.
    public var pooled: Tensor?
    /// `[B, 6]`: diffusers' `added_cond_kwargs["time_ids"]` (SDXL), or nil.
    public var timeIds: Tensor?
    /// `[B, time_cond_proj_dim]`: diffusers' `timestep_cond` (LCM's guidance embedding), or nil.
    public var timestepCondition: Tensor?

    public init(context: Tensor, pooled: Tensor? = nil, timeIds: Tensor? = nil, timestepCondition: Tensor? = nil) {
        self.context = context
        self.pooled = pooled
        self.timeIds = timeIds
        self.timestepCondition = timestepCondition
    }

    /// Rows in the batch.
    public var batch: Int { context.shape[0] }

    /// `self` with rows `0..<count` of the context and pooled embedding set to zero (SDXL's
    /// negative rows for an empty negative prompt).
    public func zeroingFirstRows(_ count: Int) -> Conditioning {
        func zeroed(_ t: Tensor) -> Tensor {
            let rows = t.chunked(t.shape[0], axis: 0)
            return Tensor.concatenate(rows.enumerated().map { $0.offset < count ? Tensor(zeros: $0.element.shape) : $0.element },
                                      axis: 0)
        }
        var copy = self
        copy.context = zeroed(context)
        copy.pooled = pooled.map(zeroed)
        return copy
    }

    /// Each row of `self` `count` times in a row (diffusers' `repeat_interleave` for
    /// `num_images_per_prompt`).
    public func repeatingRows(_ count: Int) -> Conditioning {
        func repeated(_ t: Tensor) -> Tensor {
            let rows = t.chunked(t.shape[0], axis: 0)
            return Tensor.concatenate(rows.flatMap { Array(repeating: $0, count: count) }, axis: 0)
        }
        return Conditioning(context: repeated(context), pooled: pooled.map(repeated), timeIds: timeIds.map(repeated),
                            timestepCondition: timestepCondition.map(repeated))
    }
}

/// Turns prompts into a `Conditioning`: one CLIP (SD 1.x and 2.x) or SDXL's two.
public protocol TextConditioner: Sendable {
    /// The conditioning of `prompts`, one row each, in order, and how each was tokenised.
    func condition(_ prompts: [String]) throws -> (Conditioning, [TokenizedPrompt])
    /// Whether an absent negative prompt is zeros rather than the encoding of "" (SDXL's
    /// `force_zeros_for_empty_prompt`).
    var zeroesEmptyNegativePrompt: Bool { get }
}

extension TextConditioner {
    public var zeroesEmptyNegativePrompt: Bool { false }
}
