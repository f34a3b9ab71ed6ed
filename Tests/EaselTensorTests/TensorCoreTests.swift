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

@Suite struct BufferPoolTests {
    @Test func sizeClassesRoundUpByAtMostAnEighth() {
        #expect(BufferPool.sizeClass(100) == 100)
        #expect(BufferPool.sizeClass(1 << 20) == 1 << 20)
        for bytes in [(1 << 20) + 1, 10_485_760, 41_943_041, 83_886_080 + 12] {
            let size = BufferPool.sizeClass(bytes)
            #expect(size >= bytes && Double(size) <= Double(bytes) * 1.125)
        }
    }

    @Test func largeBuffersAreReusedUpToCapacity() {
        let pool = BufferPool(capacity: 3 << 20)
        let a = pool.allocate(bytes: 2 << 20)
        pool.release(a, bytes: 2 << 20)
        #expect(pool.cachedByteCount == 2 << 20)
        let b = pool.allocate(bytes: (2 << 20) - 100)  // same size class
        #expect(a == b)
        #expect(pool.cachedByteCount == 0)
        let c = pool.allocate(bytes: 2 << 20)
        pool.release(b, bytes: 2 << 20)
        pool.release(c, bytes: 2 << 20)  // over capacity: freed, not kept
        #expect(pool.cachedByteCount == 2 << 20)
        pool.drain()
        #expect(pool.cachedByteCount == 0)
    }
}
