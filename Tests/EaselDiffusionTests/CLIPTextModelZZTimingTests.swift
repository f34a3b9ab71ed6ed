import EaselTensor
import Foundation
import Testing
@testable import EaselDiffusion

@Suite("CLIPTextModel timing scratch", .serialized)
struct CLIPTextModelZZTimingTests {
    @Test func timing() {
        let clock = ContinuousClock()
        let n = 50_000_000
        var rng = TorchRandom(seed: 1)
        var t0 = clock.now
        var acc: UInt32 = 0
        for _ in 0..<n { acc &+= rng.nextUInt32() }
        print("raw words: \(clock.now - t0) \(acc)")
        t0 = clock.now
        let v = rng.normalFloats(count: n)
        print("normalFloats: \(clock.now - t0) \(v[7])")
        t0 = clock.now
        let t = Tensor(shape: [n], scalars: v)
        print("tensor copy: \(clock.now - t0)")
        t0 = clock.now
        let s = t * Float(0.04)
        print("scale: \(clock.now - t0) \(s.count)")
        var rng2 = TorchRandom(seed: 1, kernel: .portable)
        t0 = clock.now
        let w = rng2.normalFloats(count: n)
        print("normalFloats portable: \(clock.now - t0) \(w[7])")
    }
}
