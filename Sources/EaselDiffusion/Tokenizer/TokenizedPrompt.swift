/// One prompt's token ids, padded or truncated to the text encoder's length.
///
/// `ids` is what diffusers' `StableDiffusionPipeline` gets from
/// `tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True)`:
/// start token, the prompt's tokens, end token, then pad tokens.
public struct TokenizedPrompt: Sendable, Equatable {
    /// Exactly `CLIPTokenizer.maxLength` ids.
    public let ids: [Int32]
    /// Length of the whole prompt in tokens, start and end tokens included, before truncation.
    public let unpaddedLength: Int

    public init(ids: [Int32], unpaddedLength: Int) {
        self.ids = ids
        self.unpaddedLength = unpaddedLength
    }

    /// Whether tokens of the prompt were cut off (diffusers logs a warning then).
    public var isTruncated: Bool { unpaddedLength > ids.count }

    /// Positions that hold the prompt rather than padding: start and end tokens included.
    public var contentLength: Int { min(unpaddedLength, ids.count) }
}
