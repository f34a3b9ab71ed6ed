// Per-thread packing buffers, kept for the thread's life: a product packs its operands
// into them instead of allocating (fresh pages would fault on every call).

#ifndef EASEL_WORKSPACE_H
#define EASEL_WORKSPACE_H

#include <stdlib.h>

/// A 64-byte-aligned buffer of at least `bytes`, owned by the calling thread and reused.
/// `slot` selects one of a few independent buffers.
static inline void *easel_workspace(int slot, size_t bytes) {
    static _Thread_local void *buffers[4];
    static _Thread_local size_t sizes[4];
    if (sizes[slot] < bytes) {
        free(buffers[slot]);
        size_t size = (bytes + 4095) & ~(size_t)4095;
        buffers[slot] = aligned_alloc(64, size);
        sizes[slot] = buffers[slot] ? size : 0;
    }
    return buffers[slot];
}

#endif
