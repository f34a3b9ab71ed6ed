import Foundation

/// Recycles the large buffers behind tensors.
///
/// A diffusion step allocates and frees the same large activations (tens of MB each)
/// over and over. Fresh large allocations come from the kernel as untouched pages, and
/// the first write to each 4 KB page faults and zeroes it — for a memory-bound kernel
/// (an add, a norm, GEGLU) that costs as much as the kernel itself. Freed buffers of 1 MB
/// and more are therefore kept here, by size class, and handed out again; at most
/// `capacity` bytes are kept, beyond that buffers are freed as usual.
///
/// Buffers stay on the kernel's small pages. Transparent huge pages were tried (2 MB
/// aligned, `MADV_HUGEPAGE`): the VAE decode at 512x512 gained 9-19%, but on a Firecracker VM
/// fresh huge pages fault slowly (a model's load took 4-6 s instead of 1.6 s after other
/// processes had run), and whole 10-step 256x256 runs got slower (farm-bench, bf16: 17.0 s
/// against 15.8 s).
///
/// This is a process-wide cache (like malloc's own arenas): it holds no tensor data that
/// anything can observe, only free memory, and `TensorStorage.releaseCachedBuffers()`
/// returns it all.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool(capacity: BufferPool.defaultCapacity)

    /// Smallest buffer worth pooling; smaller ones are cheap for malloc to reuse.
    static let minimumPooledBytes = 1 << 20

    /// An eighth of physical memory, at most 2 GB (a UNet step at 512 x 512, batch 2,
    /// cycles through well under that).
    static var defaultCapacity: Int {
        Int(min(ProcessInfo.processInfo.physicalMemory / 8, 2 << 30))
    }

    private let capacity: Int
    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The size actually allocated for a request of `bytes`: rounded up to one of eight
    /// steps per power of two (at most 12.5% more), so similar shapes share buffers.
    static func sizeClass(_ bytes: Int) -> Int {
        if bytes < minimumPooledBytes { return max(bytes, 1) }
        let step = 1 << (Int.bitWidth - 1 - bytes.leadingZeroBitCount - 3)
        return (bytes + step - 1) / step * step
    }

    /// A 64-byte-aligned buffer of `sizeClass(bytes)` bytes.
    func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = Self.sizeClass(bytes)
        if size >= Self.minimumPooledBytes {
            lock.lock()
            if let p = free[size]?.popLast() {
                cachedBytes -= size
                lock.unlock()
                return p
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    /// Takes back a buffer from `allocate(bytes:)` with the same `bytes`.
    func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.sizeClass(bytes)
        if size >= Self.minimumPooledBytes {
            lock.lock()
            if cachedBytes + size <= capacity {
                free[size, default: []].append(pointer)
                cachedBytes += size
                lock.unlock()
                return
            }
            lock.unlock()
        }
        pointer.deallocate()
    }

    /// Frees every cached buffer.
    func drain() {
        lock.lock()
        let buffers = free.values.flatMap { $0 }
        free = [:]
        cachedBytes = 0
        lock.unlock()
        for p in buffers { p.deallocate() }
    }

    /// Bytes currently cached (for tests and diagnostics).
    var cachedByteCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return cachedBytes
    }
}
