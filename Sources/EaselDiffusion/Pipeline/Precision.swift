import EaselTensor

/// The precision a model is loaded and run in.
///
/// - `float32`: every weight and product in float32 (the parity bar: images within 1/255
///   of diffusers in float32).
/// - `bfloat16`: the weights of every linear and convolution layer (UNet, text encoder,
///   VAE) kept in bfloat16, half their float32 memory, and those layers' products computed
///   in bfloat16 with float32 sums (AMX where the CPU has it, AVX-512 BF16 dot products
///   where those pay, widened to float32 inside the product otherwise; without AMX, 3x3
///   convolutions from 32x32 run in float32 on the bfloat16 weights, which is faster
///   there). Everything else (norms, softmax, the scheduler, the latents) stays
///   float32. Images differ from float32's by bfloat16 rounding: the parity tests hold them
///   to a PSNR bound instead of a pixel bound.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case float32 = "fp32"
    case bfloat16 = "bf16"

    /// Reads `fp32`/`float32` or `bf16`/`bfloat16`.
    public init?(name: String) {
        switch name.lowercased() {
        case "fp32", "float32": self = .float32
        case "bf16", "bfloat16": self = .bfloat16
        default: return nil
        }
    }

    /// The element type of linear and convolution weights.
    public var matrixType: ElementType {
        switch self {
        case .float32: .float32
        case .bfloat16: .bfloat16
        }
    }
}
