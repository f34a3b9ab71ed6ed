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

    @Test func aMissTakesTheNearestSpareBufferResized() {
        let pool = BufferPool(capacity: 64 << 20)
        let small = pool.allocate(bytes: 2 << 20), large = pool.allocate(bytes: 8 << 20), other = pool.allocate(bytes: 12 << 20)
        pool.release(small, bytes: 2 << 20)
        pool.release(large, bytes: 8 << 20)
        pool.release(other, bytes: 12 << 20)
        #expect(pool.cachedByteCount == 22 << 20)
        // Within the phase that cached them, other sizes do not take them.
        let first = pool.allocate(bytes: 4 << 20)
        #expect(pool.cachedByteCount == 22 << 20)
        pool.retire()
        pool.release(first, bytes: 4 << 20)  // cached in the new phase: not spare
        #expect(pool.cachedByteCount == 26 << 20)
        // Its own size takes it back.
        let middle = pool.allocate(bytes: 4 << 20)
        #expect(middle == first && pool.cachedByteCount == 22 << 20)
        // 6 MB: the smallest larger spare (8 MB) shrunk; all of it can be written.
        let six = pool.allocate(bytes: 6 << 20)
        #expect(pool.cachedByteCount == 14 << 20)
        six.initializeMemory(as: UInt8.self, repeating: 7, count: 6 << 20)
        // Nothing as large as 16 MB: the largest smaller spare (12 MB) grown, then the 2 MB one.
        let big = pool.allocate(bytes: 16 << 20)
        #expect(pool.cachedByteCount == 2 << 20)
        big.initializeMemory(as: UInt8.self, repeating: 9, count: 16 << 20)
        let bigger = pool.allocate(bytes: 24 << 20)
        #expect(pool.cachedByteCount == 0)
        bigger.initializeMemory(as: UInt8.self, repeating: 3, count: 24 << 20)
        #expect(six.load(fromByteOffset: (6 << 20) - 1, as: UInt8.self) == 7)
        #expect(big.load(fromByteOffset: (16 << 20) - 1, as: UInt8.self) == 9)
        // No spare left: new buffers.
        let fresh = pool.allocate(bytes: 3 << 20)
        fresh.initializeMemory(as: UInt8.self, repeating: 1, count: 3 << 20)
        for (p, bytes) in [(middle, 4 << 20), (six, 6 << 20), (big, 16 << 20), (bigger, 24 << 20)] {
            pool.release(p, bytes: bytes)
        }
        #expect(pool.cachedByteCount == 50 << 20)
        // Spares no request took through a whole phase are freed at the retire after it.
        pool.retire()
        let again = pool.allocate(bytes: 16 << 20)  // the same size: taken back
        #expect(pool.cachedByteCount == 34 << 20)
        pool.retire()
        #expect(pool.cachedByteCount == 0)
        pool.release(again, bytes: 16 << 20)
        pool.release(fresh, bytes: 3 << 20)
        pool.drain()
        #expect(pool.cachedByteCount == 0)
    }

    @Test func sparesMakeRoomForTheCurrentPhase() {
        let pool = BufferPool(capacity: 8 << 20)
        let a = pool.allocate(bytes: 2 << 20), b = pool.allocate(bytes: 3 << 20), c = pool.allocate(bytes: 4 << 20)
        pool.release(a, bytes: 2 << 20)
        pool.release(b, bytes: 3 << 20)
        pool.retire()
        #expect(pool.cachedByteCount == 5 << 20)
        // 5 MB cached and 4 more: a spare goes (the nearest in size, 3 MB), the new one stays.
        pool.release(c, bytes: 4 << 20)
        #expect(pool.cachedByteCount == 6 << 20)
        let d = pool.allocate(bytes: 4 << 20)
        #expect(d == c)
        let e = pool.allocate(bytes: 8 << 20)  // takes the 2 MB spare, grown
        #expect(pool.cachedByteCount == 0)
        pool.release(d, bytes: 4 << 20)
        pool.retire()
        let f = pool.allocate(bytes: 6 << 20)  // takes the 4 MB spare, grown
        pool.release(e, bytes: 8 << 20)
        #expect(pool.cachedByteCount == 8 << 20)
        pool.release(f, bytes: 6 << 20)  // full, and no spare to free: not kept
        #expect(pool.cachedByteCount == 8 << 20)
        pool.drain()
    }
}
