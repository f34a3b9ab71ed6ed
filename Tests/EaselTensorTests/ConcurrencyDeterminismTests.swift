import Foundation
import Testing
@testable import EaselTensor

/// The same inputs give bit-identical outputs whatever else the process is doing: every
/// kernel's split of work (and so of every sum) is fixed by the shapes, never by how many
/// threads happen to be free, and no call changes how another concurrent call computes.
///
/// Each operation is first run alone; then several threads (more than the cores) run all
/// of them at once, in different orders, so that attention's many small products, large
/// products, convolutions and norms overlap in every combination.
@Suite struct ConcurrencyDeterminismTests {
    /// One named operation on fixed inputs.
    struct Operation: @unchecked Sendable {
        var name: String
        var run: () -> Tensor
    }

    static func operations() -> [Operation] {
        let tokens = Tensor.random([2, 1024, 320], seed: 1)
        let weight = Tensor.random([1280, 320], seed: 2, in: -0.1...0.1)
        let bias = Tensor.random([1280], seed: 3)
        let context = Tensor.random([2, 77, 320], seed: 4)
        let image = Tensor.random([1, 64, 48, 48], seed: 5)
        let kernel = Tensor.random([64, 64, 3, 3], seed: 6, in: -0.05...0.05)
        let strided = Tensor.random([128, 64, 3, 3], seed: 7, in: -0.05...0.05)
        let pointwise = Tensor.random([96, 64, 1, 1], seed: 8, in: -0.1...0.1)
        let batchedA = Tensor.random([8, 96, 200], seed: 9)
        let batchedB = Tensor.random([8, 200, 160], seed: 10)
        let tall = Tensor.random([4096, 40], seed: 11)
        let wide = Tensor.random([40, 4096], seed: 12)
        return [
            Operation(name: "linear") { Tensor.linear(tokens, weight: weight, bias: bias) },
            Operation(name: "matmul [4096x40]·[40x4096]") { Tensor.matmul(tall, wide) },
            Operation(name: "batched matmul") { Tensor.matmul(batchedA, batchedB) },
            Operation(name: "self-attention") {
                Tensor.attention(query: tokens, key: tokens, value: tokens, heads: 8)
            },
            Operation(name: "cross-attention") {
                Tensor.attention(query: tokens, key: context, value: context, heads: 5)
            },
            Operation(name: "causal attention") {
                Tensor.attention(query: context, key: context, value: context, heads: 4, causal: true)
            },
            Operation(name: "conv 3x3") { Tensor.conv2d(image, weight: kernel, bias: nil, padding: 1) },
            Operation(name: "conv 3x3 stride 2") {
                Tensor.conv2d(image, weight: strided, bias: nil, stride: 2, padding: 1)
            },
            Operation(name: "conv 1x1") { Tensor.conv2d(image, weight: pointwise) },
            Operation(name: "group norm + SiLU") {
                image.groupNorm(groups: 32, weight: nil, bias: nil, fusingSiLU: true)
            },
            Operation(name: "layer norm") { tokens.layerNorm(weight: nil, bias: nil) },
            Operation(name: "softmax") { tokens.softmax() },
        ]
    }

    @Test func operationsGiveTheSameBitsWhenRunConcurrently() {
        let operations = Self.operations()
        let reference = operations.map { $0.run().scalars }
        let threads = 2 * Parallel.coreCount + 2
        let rounds = 3
        let mismatches = Mismatches()
        runOnThreads(threads) { thread in
            for round in 0..<rounds {
                // A different order on each thread, so that every pair of operations overlaps.
                for i in 0..<operations.count {
                    let index = (i * (thread + 1) + round + thread) % operations.count
                    if operations[index].run().scalars != reference[index] {
                        mismatches.record(operations[index].name)
                    }
                }
            }
        }
        #expect(mismatches.names.isEmpty, "results changed under concurrency: \(mismatches.names.sorted())")
    }
}

/// Names of the operations whose concurrent result differed from the one computed alone.
final class Mismatches: @unchecked Sendable {
    private let lock = NSLock()
    private var set: Set<String> = []
    func record(_ name: String) { lock.withLock { _ = set.insert(name) } }
    var names: Set<String> { lock.withLock { set } }
}

/// Runs `body(i)` on `count` threads of its own (not a pool capped at the core count, so
/// more work runs at once than there are cores) and returns when all are done.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            body(i)
            group.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
    group.wait()
}
