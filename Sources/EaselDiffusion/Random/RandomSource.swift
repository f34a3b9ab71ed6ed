import EaselTensor

/// Where a generation's randomness comes from: the initial latents, an ancestral
/// scheduler's per-step noise, the VAE's latent sample for image-to-image.
///
/// A value passed in (never global), consumed `inout`, so one request's stream is drawn in
/// one order whatever else runs. `TorchRandom` is the implementation: PyTorch's CPU
/// generator, bit for bit, so a seed means what it means in diffusers. Another backend (a
/// GPU generator drawing on the device) implements the same verb.
public protocol RandomSource: Sendable {
    /// Standard normal values of `shape`, continuing the stream (`torch.randn(shape, generator=g)`).
    mutating func randn(_ shape: [Int]) -> Tensor
}

extension TorchRandom: RandomSource {}
