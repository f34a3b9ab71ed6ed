/// EaselDiffusion turns a prompt into pixels: checkpoints, tokenizer, models,
/// schedulers and the text-to-image pipeline. It knows nothing of HTTP.
public enum EaselDiffusion {
    /// Version of the engine, reported by `easel --version` and in PNG metadata.
    public static let version = "0.1.0"
}
