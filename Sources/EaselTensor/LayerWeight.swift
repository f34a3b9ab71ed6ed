import CEaselKernels

/// A linear or convolution layer's weight, held in the form its products read fastest.
///
/// Where the CPU multiplies in bfloat16 (AMX, or AVX-512 BF16 dot products where they pay),
/// a bfloat16 weight is packed once, when the layer is built, into the tile layout both
/// kernels read, and the tensor as loaded is not kept: no product repacks a weight again,
/// and the memory stays what the bfloat16 tensor took (plus rounding each extent up to 32).
/// Otherwise (float32 weights, bfloat16 ones widened in the product) it is the tensor as
/// loaded, and products read it as before.
///
/// - A linear weight `[out, in]` is packed as the right operand `weightᵀ`, in panels of 32
///   outputs.
/// - A convolution weight `[Cout, Cin, kh, kw]` is packed as the left operand, one
///   `[Cout, Cin]` matrix per kernel tap, the taps one after another along the inner
///   extent: what both the direct convolution (a tap's matrix) and the column-matrix
///   product (all taps, columns in tap-major order) read. Only when `Cin` is a multiple
///   of 32, so that each tap starts on a tile boundary; the first layer of a model (3 or 4
///   channels) stays a tensor.
///
/// This is where a GPU backend would make a weight's device form, once, too.
public struct LayerWeight: @unchecked Sendable {
    /// The weight's shape as loaded (`[out, in]` or `[Cout, Cin, kh, kw]`).
    public let shape: [Int]
    /// The element type of its values.
    public let elementType: ElementType
    let form: Form

    enum Form {
        case tensor(Tensor)
        /// Packed bfloat16 panels, `panelStride` elements apart.
        case packed(TensorStorage, panelStride: Int)
    }

    /// A linear layer's weight `[out, in]`.
    public init(linear weight: Tensor, kernels: Kernels = .current) {
        require(weight.rank == 2, "linear weight must be [out, in], got \(weight.shape)")
        shape = weight.shape
        elementType = weight.elementType
        let (outputs, inputs) = (weight.shape[0], weight.shape[1])
        guard weight.elementType == .bfloat16, kernels.multipliesBFloat16, outputs > 0, inputs > 0 else {
            form = .tensor(weight)
            return
        }
        let panelStride = 32 * Self.padded(inputs)
        let packed = TensorStorage(uninitializedCount: easel_amx_packed_size(outputs, inputs), elementType: .bfloat16)
        let source = UnsafeRawPointer(weight.storage.rawPointer)
        // Panels of 32 outputs side by side, each packed by one thread.
        Parallel.forRanges((outputs + 31) / 32, cost: 32 * inputs) { panels in
            let first = panels.lowerBound * 32, count = min(outputs, panels.upperBound * 32) - first
            easel_amx_pack_b(1, inputs, count, source + first * inputs * 2, EASEL_BFLOAT16, inputs,
                             packed.rawPointer.assumingMemoryBound(to: UInt16.self) + panels.lowerBound * panelStride,
                             panelStride)
        }
        form = .packed(packed, panelStride: panelStride)
    }

    /// A convolution layer's weight `[Cout, Cin, kh, kw]`.
    public init(convolution weight: Tensor, kernels: Kernels = .current) {
        require(weight.rank == 4, "conv2d weight must be [Cout, Cin, kh, kw], got \(weight.shape)")
        shape = weight.shape
        elementType = weight.elementType
        let (cout, cin, taps) = (weight.shape[0], weight.shape[1], weight.shape[2] * weight.shape[3])
        guard weight.elementType == .bfloat16, kernels.multipliesBFloat16, cout > 0, cin > 0, cin % 32 == 0 else {
            form = .tensor(weight)
            return
        }
        let panelStride = 32 * taps * cin
        let packed = TensorStorage(uninitializedCount: (cout + 31) / 32 * panelStride, elementType: .bfloat16)
        let reordered = ConvGeometry.tapMajorWeights(weight.storage.rawPointer, elementType: .bfloat16,
                                                     cout: cout, cin: cin, taps: taps)
        let source = reordered.rawPointer.assumingMemoryBound(to: UInt16.self)
        let destination = packed.rawPointer.assumingMemoryBound(to: UInt16.self)
        // Each tap's [Cout, Cin] matrix into its place along k of every panel.
        Parallel.forEach(taps) { t in
            easel_amx_pack_a(0, cout, cin, source + t * cout * cin, EASEL_BFLOAT16, cin, destination + t * 32 * cin, panelStride)
        }
        withExtendedLifetime(reordered) {}
        form = .packed(packed, panelStride: panelStride)
    }

    /// The tensor as loaded, when it is kept in that form.
    public var tensor: Tensor? {
        if case let .tensor(t) = form { return t }
        return nil
    }

    /// Whether it is held packed for bfloat16 products.
    public var isPacked: Bool { tensor == nil }

    /// A linear weight `[out, in]` as the right operand of its products, `weightᵀ`: packed
    /// as that already, or the tensor read transposed.
    var rightOperand: (operand: MatrixOperand, transposed: Bool) {
        switch form {
        case let .tensor(t): (MatrixOperand(t, ld: shape[1]), true)
        case let .packed(storage, panelStride): (MatrixOperand(packed: storage.rawPointer, panelStride: panelStride), false)
        }
    }

    /// The weight as the left operand of its products (a convolution's), `ld` apart if a tensor.
    func operand(ld: Int) -> MatrixOperand {
        switch form {
        case let .tensor(t): MatrixOperand(t, ld: ld)
        case let .packed(storage, panelStride): MatrixOperand(packed: storage.rawPointer, panelStride: panelStride)
        }
    }

    /// `n` rounded up to a multiple of 32, as packing pads the inner extent.
    static func padded(_ n: Int) -> Int { (n + 31) / 32 * 32 }
}
