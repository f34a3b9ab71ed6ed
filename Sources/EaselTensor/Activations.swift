// Activation functions, vectorised (see VectorMath.swift for the approximations).

import CEaselKernels

/// Which GELU formula to use, as PyTorch's `approximate=` argument.
public enum GELUApproximation: Sendable {
    /// `x/2 * (1 + erf(x / sqrt 2))` (PyTorch's default, `approximate='none'`).
    case none
    /// `x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))` (`approximate='tanh'`).
    case tanh
}

extension Tensor {
    /// SiLU (swish): `x * sigmoid(x)`. Same shape.
    public func silu() -> Tensor {
        mapVec { $0 * vsigmoid($0) }
    }

    /// `1 / (1 + e^-x)`. Same shape.
    public func sigmoid() -> Tensor {
        mapVec { vsigmoid($0) }
    }

    /// GELU, exact by default or with the tanh approximation. Same shape.
    public func gelu(approximation: GELUApproximation = .none) -> Tensor {
        switch approximation {
        case .none: mapVec { vgelu($0) }
        case .tanh: mapVec { vgeluTanh($0) }
        }
    }

    /// Quick GELU, `x * sigmoid(1.702 x)` (CLIP ViT-L/14's text encoder, SD 1.x). Same shape.
    public func quickGELU() -> Tensor {
        mapVec { $0 * vsigmoid(1.702 * $0) }
    }

    /// GEGLU's gating, as diffusers' `GEGLU` after its projection:
    /// `hidden, gate = self.chunk(2, dim=-1); hidden * gelu(gate)`.
    ///
    /// - `self`: `[..., 2F]`. Returns `[..., F]`, in one pass without splitting.
    public func geglu(approximation: GELUApproximation = .none) -> Tensor {
        geglu(approximation: approximation, kernels: .current)
    }

    /// `geglu` with the exact GELU in AVX-512 C where `kernels` allow (the same bits as the
    /// Swift vectors, which a baseline x86-64 build runs four lanes at a time: GEGLU at
    /// [2, 4096, 2560] on Zen 4 10.3 -> 5.5 ms).
    func geglu(approximation: GELUApproximation, kernels: Kernels) -> Tensor {
        require(rank >= 1 && shape[rank - 1] % 2 == 0, "geglu needs an even last axis, got \(shape)")
        let inC = approximation == .none && kernels.contains(.avx512)
        let twoF = shape[rank - 1], f = twoF / 2
        let rows = twoF == 0 ? 0 : count / twoF
        var outShape = shape
        outShape[rank - 1] = f
        let out = Tensor(uninitializedShape: outShape)
        let xp = UnsafePointer(storage.pointer), op = out.storage.pointer
        Parallel.forRanges(rows, cost: 8 * f) { r in
            for row in r {
                let hidden = xp + row * twoF, gate = hidden + f, dst = op + row * f
                if inC {
                    easel_geglu_erf(hidden, gate, dst, f)
                    continue
                }
                switch approximation {
                case .none: Self.gatedRun(hidden, gate, dst, f) { vgelu($0) }
                case .tanh: Self.gatedRun(hidden, gate, dst, f) { vgeluTanh($0) }
                }
            }
        }
        return out
    }

    /// `dst[i] = hidden[i] * act(gate[i])` for `n` elements.
    @inline(__always)
    static func gatedRun(
        _ hidden: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
        _ n: Int, _ act: (Vec) -> Vec
    ) {
        var i = 0
        while i + vecWidth <= n {
            dst.storeVec(hidden.loadVec(i) * act(gate.loadVec(i)), i)
            i += vecWidth
        }
        if i < n {
            var h = Vec(), g = Vec()
            for lane in 0..<(n - i) { h[lane] = hidden[i + lane]; g[lane] = gate[i + lane] }
            let r = h * act(g)
            for lane in 0..<(n - i) { dst[i + lane] = r[lane] }
        }
    }
}
