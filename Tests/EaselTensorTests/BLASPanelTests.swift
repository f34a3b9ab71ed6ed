import CEaselKernels
import Testing
@testable import EaselTensor

/// Large products are cut into panels by shape alone (BLAS.PanelSplit) and each panel is an
/// ordinary one-thread sgemm: every transpose, leading dimension, alpha and beta must come
/// out as the whole product would.
@Suite struct BLASPanelTests {
    @Test func smallProductsAreNotCut() {
        #expect(BLAS.PanelSplit(m: 64, n: 64, k: 64) == .none)
        #expect(BLAS.PanelSplit(m: 4096, n: 8, k: 8) == .none, "too few multiply-adds")
        #expect(BLAS.PanelSplit(m: 60, n: 60, k: 100_000) == .none, "no dimension wide enough for two panels")
    }

    @Test func panelsRunAlongTheWiderDimensionInAlignedPieces() {
        for (m, n, k) in [(1000, 130, 70), (130, 1000, 70), (320, 4096, 2880), (4096, 320, 320), (77, 768, 3072),
                          (9, 100_000, 9_000), (5000, 5000, 5000)] {
            let split = BLAS.PanelSplit(m: m, n: n, k: k)
            let outer = max(m, n)
            switch split {
            case .none:
                Issue.record("\(m)x\(n)x\(k) should be cut")
            case let .columns(size, count), let .rows(size, count):
                #expect(n >= m ? split == .columns(width: size, count: count) : split == .rows(height: size, count: count))
                #expect(size % BLAS.panelAlignment == 0)
                #expect(count >= 2 && count <= BLAS.maximumPanels)
                #expect((count - 1) * size < outer && count * size >= outer, "\(count) panels of \(size) cover \(outer)")
            }
        }
    }

    /// Row panels for Easel's float32 kernel end on its 14-row register tiles (a 128-row
    /// panel would end in a tile of 2 rows that costs a whole one); columns stay in 64s.
    @Test func rowPanelsCanEndOnTheRegisterTile() {
        let rows = Int(EASEL_SGEMM_ROWS)
        for (m, n, k) in [(1280, 128, 11520), (2048, 640, 640), (4096, 320, 320), (8192, 320, 1280)] {
            guard case let .rows(height, count) = BLAS.PanelSplit(m: m, n: n, k: k, rowAlignment: rows) else {
                Issue.record("\(m)x\(n)x\(k) should be cut into rows")
                continue
            }
            #expect(height % rows == 0 && count <= BLAS.maximumPanels && (count - 1) * height < m && count * height >= m)
        }
        #expect(BLAS.PanelSplit(m: 128, n: 4096, k: 320, rowAlignment: rows) == BLAS.PanelSplit(m: 128, n: 4096, k: 320))
    }

    /// A float32 product cut into panels packs the operand every panel reads (A across
    /// column panels, B across row panels) once for all of them: the same bits as the
    /// product in one piece, for every transpose, with a bias or with beta.
    @Test(.enabled(if: Kernels.detected.contains(.avx512)))
    func float32PanelsShareAnOperandPackedOnce() {
        for (m, n, k) in [(300, 3000, 200), (3000, 300, 520), (1280, 128, 1000), (200, 2100, 40)] {
            #expect(BLAS.PanelSplit(m: m, n: n, k: k) != .none)
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = Tensor.random(transA ? [k, m] : [m, k], seed: UInt64(m + k))
                    let b = Tensor.random(transB ? [n, k] : [k, n], seed: UInt64(n + k))
                    let bias = Tensor.random([max(m, n)], seed: 5)
                    let start = Tensor.random([m, n], seed: 6)
                    func product(parallel: Bool, withBias: Bool) -> [Float] {
                        var c = start
                        c.withUnsafeMutableBufferPointer { c in
                            BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: withBias ? 1 : 0.5,
                                      a: MatrixOperand(a, ld: transA ? m : k), b: MatrixOperand(b, ld: transB ? k : n),
                                      beta: withBias ? 0 : 0.25, c: c.baseAddress!, ldc: n,
                                      bias: withBias ? UnsafePointer(bias.storage.pointer) : nil, biasPerRow: m > n,
                                      parallel: parallel, kernels: [.avx512])
                        }
                        return c.scalars
                    }
                    for withBias in [false, true] {
                        #expect(product(parallel: true, withBias: withBias) == product(parallel: false, withBias: withBias),
                                "m\(m) n\(n) k\(k) tA \(transA) tB \(transB) bias \(withBias)")
                    }
                }
            }
        }
    }

    /// Every combination of transposes, through panels on rows and on columns, into a C
    /// that lies inside a wider matrix (ldc > n) with beta = 1 and alpha != 1.
    @Test(arguments: [(1000, 130, 70), (130, 1000, 70)])
    func panelProductsEqualTheDefinition(m: Int, n: Int, k: Int) {
        #expect(BLAS.PanelSplit(m: m, n: n, k: k) != .none)
        for transA in [false, true] {
            for transB in [false, true] {
                let a = Tensor.random(transA ? [k, m] : [m, k], seed: 1)
                let b = Tensor.random(transB ? [n, k] : [k, n], seed: 2)
                let ldc = n + 3
                let c = Tensor.random([m, ldc], seed: 3)
                let before = c.scalars
                BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                           a: a.storage.pointer, lda: transA ? m : k, b: b.storage.pointer, ldb: transB ? k : n,
                           beta: 1, c: c.storage.pointer, ldc: ldc)
                let (av, bv, cv) = (a.scalars, b.scalars, c.scalars)
                var worst = 0.0, untouched = true
                for i in 0..<m {
                    for j in 0..<ldc {
                        guard j < n else {
                            untouched = untouched && cv[i * ldc + j] == before[i * ldc + j]
                            continue
                        }
                        var s = 0.0
                        for p in 0..<k {
                            let x = Double(transA ? av[p * m + i] : av[i * k + p])
                            let y = Double(transB ? bv[j * k + p] : bv[p * n + j])
                            s += x * y
                        }
                        let expected = 0.5 * s + Double(before[i * ldc + j])
                        worst = max(worst, abs(Double(cv[i * ldc + j]) - expected))
                    }
                }
                #expect(worst < 1e-4, "transA \(transA) transB \(transB): worst error \(worst)")
                #expect(untouched, "columns past n are left alone")
            }
        }
    }
}
