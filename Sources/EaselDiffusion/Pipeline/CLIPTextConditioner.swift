import EaselTensor

/// SD 1.x and 2.x conditioning: one CLIP tokenizer and text encoder; the context is the
/// encoder's last hidden state, as diffusers' `encode_prompt` without clip skip.
public struct CLIPTextConditioner: TextConditioner {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextModel

    public init(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel) {
        self.tokenizer = tokenizer
        self.textEncoder = textEncoder
    }

    public func condition(_ prompts: [String]) throws -> (Conditioning, [TokenizedPrompt]) {
        let tokenized = prompts.map(tokenizer.encode)
        // One batch through the encoder: [n, 77, D].
        let hidden = try textEncoder(tokenized.map { $0.ids.map(Int.init) }).lastHiddenState
        return (Conditioning(context: hidden), tokenized)
    }
}
