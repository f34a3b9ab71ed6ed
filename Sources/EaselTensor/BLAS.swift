import COpenBLAS
import Foundation

/// The one door to OpenBLAS: row-major `sgemm` and control of OpenBLAS's own threads.
///
/// OpenBLAS parallelises each large `sgemm` itself. Kernels that instead run many small
/// products side by side on their own threads (attention's per-head blocks) must not let
/// every one of those calls wake OpenBLAS's pool as well, so they run inside
/// `withSingleThreadedBLAS`, which lowers OpenBLAS to one thread for the duration.
public enum BLAS {
    /// The CPU kernel family OpenBLAS picked at load time (e.g. "Haswell", "SkylakeX", "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build description (version, threading model, dynamic architectures).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// Threads OpenBLAS uses for one large call.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// `C = alpha * op(A) * op(B) + beta * C`, all row-major.
    ///
    /// `A` is `[m, k]` (or `[k, m]` when `transA`), `B` is `[k, n]` (or `[n, k]` when
    /// `transB`), `C` is `[m, n]`; the leading dimensions are the row strides in elements,
    /// so heads or blocks inside a larger tensor are addressed without copying.
    static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C scaled by beta; make the degenerate product explicit.
            for i in 0..<m {
                let row = c + i * ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
            }
            return
        }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc)
        )
    }

    /// Runs `body` with OpenBLAS limited to one thread, restoring the previous count after.
    ///
    /// Nested and concurrent uses are counted, so the count is restored only when the last
    /// one leaves. A large `sgemm` issued elsewhere meanwhile still computes correctly, on
    /// one thread.
    static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        threadLimit.enter()
        defer { threadLimit.leave() }
        return try body()
    }

    private static let threadLimit = ThreadLimit()

    /// Reference count of single-threaded regions; OpenBLAS's thread count is process-wide.
    private final class ThreadLimit: @unchecked Sendable {
        private let lock = NSLock()
        private var depth = 0
        private var saved: Int32 = 1

        func enter() {
            lock.lock()
            defer { lock.unlock() }
            if depth == 0 {
                saved = openblas_get_num_threads()
                if saved != 1 { openblas_set_num_threads(1) }
            }
            depth += 1
        }

        func leave() {
            lock.lock()
            defer { lock.unlock() }
            depth -= 1
            if depth == 0 && saved != 1 { openblas_set_num_threads(saved) }
        }
    }
}
