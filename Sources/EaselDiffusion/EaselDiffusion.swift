/// Facts about the engine itself. (EaselDiffusion turns a prompt into pixels: checkpoints,
/// tokenizer, models, schedulers and the text-to-image pipeline; it knows nothing of HTTP.)
///
/// Not named after the module: a public type called `EaselDiffusion` would shadow
/// module-qualified names such as `EaselDiffusion.GenerationError`.
public enum EngineInfo {
    /// Version of the engine, reported by `easel --version` and in PNG metadata.
    public static let version = "0.1.0"
}
