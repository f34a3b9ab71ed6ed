import CEaselKernels
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
/// Phases. A generation moves through phases whose buffers differ in size: a model's load
/// (its weights' sizes), the UNet's steps, each block of the VAE decoder (every one at twice
/// the resolution of the one before). `retire()` marks where one ends: the buffers cached
/// then become spare, and a request whose size has no buffer cached takes the nearest spare
/// one instead of fresh pages: the smallest larger one, shrunk, or else the largest smaller
/// one, grown. Each large buffer is a mapping of its own (pages.c), so its pages move with
/// it (mremap) and only a grown buffer's new part faults. Spares that the whole next phase
/// did not take are freed at the retire after it, and before that whenever the cache is
/// full (the current phase's buffers come first: they are the ones it asks for again).
/// Buffers of the current phase are reused at their own size only: taking them for other
/// sizes would reshuffle a steady step's buffers and fault on every step.
///
/// Measured (SD 1.5, 512 x 512, 2 steps, Zen 4, two cores), against emptying the cache at
/// the same points: bf16 page faults 1.53 M -> 1.19 M, peak RSS 3.54 -> 3.23 GiB, whole
/// process 0.94x (first step and decode faster; later steps as before); float32 peak RSS
/// 5.15 -> 5.09 GiB, whole process 0.94x. The same bits.
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
    /// Cached buffers by size, each with the phase that released it.
    private var free: [Int: [(pointer: UnsafeMutableRawPointer, phase: Int)]] = [:]
    private var cachedBytes = 0
    /// The current phase; buffers cached in earlier ones are spare.
    private var phase = 0

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

    /// A 64-byte-aligned buffer of `sizeClass(bytes)` bytes: a cached one of its size, a
    /// spare one resized, or new.
    func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = Self.sizeClass(bytes)
        guard size >= Self.minimumPooledBytes else {
            return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        }
        lock.lock()
        let taken = take(size) ?? takeSpare(nearest: size)
        lock.unlock()
        let pointer: UnsafeMutableRawPointer?
        switch taken {
        case let (cachedSize, cached)? where cachedSize == size: pointer = cached
        case let (cachedSize, cached)?: pointer = easel_resize_pages(cached, cachedSize, size)
        case nil: pointer = easel_map_pages(size)
        }
        guard let pointer else { fatalError("easel: out of memory for a buffer of \(size) bytes") }
        return pointer
    }

    /// Takes back a buffer from `allocate(bytes:)` with the same `bytes`.
    func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let size = Self.sizeClass(bytes)
        guard size >= Self.minimumPooledBytes else {
            pointer.deallocate()
            return
        }
        lock.lock()
        // Spares make room for the current phase's buffers: those are the ones it asks for again.
        var evicted: [(size: Int, pointer: UnsafeMutableRawPointer)] = []
        while cachedBytes + size > capacity, let spare = takeSpare(nearest: size) { evicted.append(spare) }
        let kept = cachedBytes + size <= capacity
        if kept {
            free[size, default: []].append((pointer, phase))
            cachedBytes += size
        }
        lock.unlock()
        for (spareSize, p) in evicted { easel_unmap_pages(p, spareSize) }
        if !kept { easel_unmap_pages(pointer, size) }
    }

    /// Ends a phase: the buffers cached now become spare, for the next phase's other sizes;
    /// spares no request took since the last `retire()` are freed.
    func retire() {
        lock.lock()
        var unused: [(Int, UnsafeMutableRawPointer)] = []
        for (size, buffers) in free {
            let kept = buffers.filter { $0.phase == phase }
            unused += buffers.filter { $0.phase != phase }.map { (size, $0.pointer) }
            free[size] = kept.isEmpty ? nil : kept
        }
        cachedBytes -= unused.reduce(0) { $0 + $1.0 }
        phase += 1
        lock.unlock()
        for (size, p) in unused { easel_unmap_pages(p, size) }
    }

    /// Frees every cached buffer.
    func drain() {
        lock.lock()
        let buffers = free.flatMap { size, entries in entries.map { (size, $0.pointer) } }
        free = [:]
        cachedBytes = 0
        lock.unlock()
        for (size, p) in buffers { easel_unmap_pages(p, size) }
    }

    /// Removes a cached buffer of `size` bytes from the cache, the last one cached. Under the lock.
    private func take(_ size: Int) -> (size: Int, pointer: UnsafeMutableRawPointer)? {
        guard var buffers = free[size], let last = buffers.popLast() else { return nil }
        free[size] = buffers.isEmpty ? nil : buffers
        cachedBytes -= size
        return (size, last.pointer)
    }

    /// Removes a spare buffer from the cache: the smallest larger than `size`, else the
    /// largest smaller. Under the lock.
    private func takeSpare(nearest size: Int) -> (size: Int, pointer: UnsafeMutableRawPointer)? {
        let spareSizes = free.compactMap { entry in entry.value.contains { $0.phase != phase } ? entry.key : nil }
        guard let chosen = spareSizes.filter({ $0 > size }).min() ?? spareSizes.filter({ $0 < size }).max(),
              var buffers = free[chosen], let index = buffers.lastIndex(where: { $0.phase != phase }) else { return nil }
        let pointer = buffers.remove(at: index).pointer
        free[chosen] = buffers.isEmpty ? nil : buffers
        cachedBytes -= chosen
        return (chosen, pointer)
    }

    /// Bytes currently cached (for tests and diagnostics).
    var cachedByteCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return cachedBytes
    }
}
