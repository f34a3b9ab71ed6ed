import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

/// Same seed, same image — also when generations run at the same time. Several identical
/// generations started together on threads of their own (more than the cores) give the
/// bytes of the one run alone; so do generations with other engine work beside them.
@Suite struct ConcurrentGenerationTests {
    static let request = GenerationRequest(
        prompt: "a tiny test", steps: 4, width: 64, height: 64, seed: 7, count: 2, scheduler: "euler_a")

    static func pipeline() throws -> StableDiffusionPipeline {
        StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd1")))
    }

    static func pixels(_ pipeline: StableDiffusionPipeline, _ request: GenerationRequest = request) -> [[UInt8]] {
        (try? pipeline.generate(request).images.map(\.pixels)) ?? []
    }

    @Test func identicalGenerationsStartedTogetherGiveTheSameBytes() throws {
        let pipeline = try Self.pipeline()
        let alone = Self.pixels(pipeline)
        #expect(alone.count == 2)
        let results = Results()
        runOnThreads(2 * ProcessInfo.processInfo.activeProcessorCount + 1) { i in
            results.append(i, Self.pixels(pipeline))
        }
        let all = results.values
        #expect(all.count == 2 * ProcessInfo.processInfo.activeProcessorCount + 1)
        let differing = all.filter { $0.value != alone }.map(\.key).sorted()
        #expect(differing.isEmpty, "generations \(differing) differ from the one run alone")
    }

    /// Other engine work (a larger generation of another model, with its own sizes, and
    /// a different request on the same model) runs beside the identical generations.
    @Test func generationsBesideOtherEngineWorkGiveTheSameBytes() throws {
        let pipeline = try Self.pipeline()
        let other = StableDiffusionPipeline(model: try StableDiffusionModel.load(from: try TinyModels.folder("tiny-sd2")))
        let alone = Self.pixels(pipeline)
        let results = Results()
        runOnThreads(6) { i in
            switch i % 3 {
            case 0: results.append(i, Self.pixels(pipeline))
            case 1:
                _ = Self.pixels(other, GenerationRequest(prompt: "busy", steps: 3, width: 128, height: 96, seed: UInt64(i)))
            default:
                _ = Self.pixels(pipeline, GenerationRequest(prompt: "other", steps: 5, width: 96, height: 64, count: 3))
            }
        }
        let all = results.values
        #expect(all.count == 2)
        let differing = all.filter { $0.value != alone }.map(\.key).sorted()
        #expect(differing.isEmpty, "generations \(differing) differ from the one run alone")
    }
}

/// Collects each thread's pixels.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int: [[UInt8]]] = [:]
    func append(_ key: Int, _ value: [[UInt8]]) { lock.withLock { stored[key] = value } }
    var values: [Int: [[UInt8]]] { lock.withLock { stored } }
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
