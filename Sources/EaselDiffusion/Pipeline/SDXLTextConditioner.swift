import EaselTensor

/// SDXL's conditioning, as diffusers' `StableDiffusionXLPipeline.encode_prompt` without clip
/// skip: two CLIP text encoders (CLIP ViT-L and OpenCLIP bigG with its projection), each
/// reading the prompt through its own tokenizer (the second pads with "!"). The context is
/// both encoders' penultimate hidden states side by side (`[B, 77, D1 + D2]`); the pooled
/// embedding is the second encoder's projected one (`text_embeds`).
public struct SDXLTextConditioner: TextConditioner {
    public let tokenizer: CLIPTokenizer
    public let textEncoder: CLIPTextModel
    public let tokenizer2: CLIPTokenizer
    public let textEncoder2: CLIPTextModel
    /// `force_zeros_for_empty_prompt`: no negative prompt is zeros, not an encoding of "".
    public let zeroesEmptyNegativePrompt: Bool

    public init(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, tokenizer2: CLIPTokenizer,
                textEncoder2: CLIPTextModel, zeroesEmptyNegativePrompt: Bool) {
        self.tokenizer = tokenizer
        self.textEncoder = textEncoder
        self.tokenizer2 = tokenizer2
        self.textEncoder2 = textEncoder2
        self.zeroesEmptyNegativePrompt = zeroesEmptyNegativePrompt
    }

    /// Width of the context rows: both encoders' hidden sizes.
    public var contextWidth: Int { textEncoder.config.hiddenSize + textEncoder2.config.hiddenSize }

    public func condition(_ prompts: [String]) throws -> (Conditioning, [TokenizedPrompt]) {
        let first = prompts.map(tokenizer.encode)
        let second = prompts.map(tokenizer2.encode)
        let one = try textEncoder(first.map { $0.ids.map(Int.init) }, outputHiddenStates: true)
        let two = try textEncoder2(second.map { $0.ids.map(Int.init) }, outputHiddenStates: true)
        let context = Tensor.concatenate([one.hiddenStates[one.hiddenStates.count - 2],
                                          two.hiddenStates[two.hiddenStates.count - 2]], axis: 2)
        return (Conditioning(context: context, pooled: two.pooled), first)
    }
}
