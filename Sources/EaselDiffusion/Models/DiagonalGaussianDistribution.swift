import EaselTensor
import Foundation

/// What the VAE encoder returns, as diffusers' `DiagonalGaussianDistribution`
/// (`models/autoencoders/vae.py`): per latent element a normal distribution with `mean`
/// and `logvar` (clamped to [-30, 20]); `std = exp(logvar / 2)`.
public struct DiagonalGaussianDistribution: Sendable {
    /// `[B, latent, h, w]`.
    public let mean: Tensor
    /// `[B, latent, h, w]`, clamped to [-30, 20].
    public let logvar: Tensor

    /// Splits `moments` `[B, 2*latent, h, w]` into mean and log-variance on channels.
    public init(moments: Tensor) {
        let halves = moments.chunked(2, axis: 1)
        mean = halves[0]
        logvar = halves[1].clamped(to: -30...20)
    }

    /// `exp(0.5 * logvar)`.
    public var std: Tensor { (logvar * 0.5).map { exp($0) } }

    /// `mean + std * noise`, `noise` a standard normal draw of `mean`'s shape.
    public func sample(noise: Tensor) -> Tensor {
        precondition(noise.shape == mean.shape, "noise \(noise.shape) for latents \(mean.shape)")
        return mean + std * noise
    }
}
