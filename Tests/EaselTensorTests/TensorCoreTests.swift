import Testing
@testable import EaselTensor

@Suite struct TensorCoreTests {
    @Test func reshapeSharesStorageAndInfersExtent() {
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let r = t.reshaped([3, -1])
        #expect(r.shape == [3, 2])
        #expect(r.storage === t.storage)
        #expect(r[2, 1] == 6)
    }

    @Test func mutationCopiesSharedStorage() {
        let a = Tensor(shape: [2], scalars: [1, 2])
        var b = a
        b.withUnsafeMutableBufferPointer { $0[0] = 9 }
        #expect(a.scalars == [1, 2])
        #expect(b.scalars == [9, 2])
    }
}
