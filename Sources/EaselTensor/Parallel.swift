import Dispatch
import Foundation

/// Splits loops over independent indices across the machine's cores.
///
/// Every kernel in EaselTensor that parallelises its own loops goes through here, so the
/// policy (how many pieces, when a loop is too small to be worth waking threads for)
/// lives in one place. Work is handed to `DispatchQueue.concurrentPerform`, which runs
/// the pieces on libdispatch's pool (one thread per core) and the calling thread.
@usableFromInline
enum Parallel {
    /// Cores this process may use.
    @usableFromInline static let coreCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Below this many elements of simple streaming work, one thread is faster than waking others.
    @usableFromInline static let minimumElements = 1 << 15

    /// Runs `body(i)` for every `i` in `0..<count`, in parallel when `count > 1`.
    ///
    /// Use it when each index is a sizeable piece of work (a row block, a (batch, head) pair).
    @inlinable
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || coreCount == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { work.value($0) }
        }
    }

    /// Runs `body` over contiguous sub-ranges covering `0..<count`.
    ///
    /// `cost` is the work per index in "elements of streaming work"; the range is split
    /// into a few pieces per core only when the total is worth it, so tiny tensors stay on
    /// the calling thread.
    @inlinable
    static func forRanges(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let total = count * max(cost, 1)
        if coreCount == 1 || total < minimumElements || count == 1 {
            body(0..<count)
            return
        }
        // A few pieces per core evens out cores that get interrupted (the machine is shared).
        let pieces = min(count, coreCount * 4, max(1, total / (minimumElements / 2)))
        let base = count / pieces, extra = count % pieces
        forEach(pieces) { piece in
            let start = piece * base + min(piece, extra)
            let end = start + base + (piece < extra ? 1 : 0)
            body(start..<end)
        }
    }
}

/// Carries a value across the `@Sendable` boundary of `concurrentPerform`.
///
/// The kernels' closures capture raw pointers into tensors that each piece of work
/// reads or writes in disjoint parts; `concurrentPerform` returns only when every piece
/// is done, so nothing outlives the call.
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}

