// Large buffers as mappings of their own (BufferPool.swift), so that one kept for reuse can
// be resized to what a request needs while keeping the pages it has: a fresh page costs a
// fault and zeroing on first touch (about 0.5 s per GB on the machines Easel is measured
// on), a moved one costs nothing.

#if defined(__linux__)
#define _GNU_SOURCE  // mremap
#include <sys/mman.h>
#endif
#include <stdlib.h>

#include "EaselKernels.h"

#if defined(__linux__)

void *easel_map_pages(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *easel_resize_pages(void *pages, size_t bytes, size_t newBytes) {
    void *p = mremap(pages, bytes, newBytes, MREMAP_MAYMOVE);
    if (p != MAP_FAILED) return p;
    munmap(pages, bytes);
    return NULL;
}

void easel_unmap_pages(void *pages, size_t bytes) { munmap(pages, bytes); }

#else

// Elsewhere, plain page-aligned allocations: a resize is a new buffer (the contents are not
// kept; a pool's buffer holds none that matter).
void *easel_map_pages(size_t bytes) { return aligned_alloc(4096, bytes); }

void *easel_resize_pages(void *pages, size_t bytes, size_t newBytes) {
    (void)bytes;
    free(pages);
    return aligned_alloc(4096, newBytes);
}

void easel_unmap_pages(void *pages, size_t bytes) {
    (void)bytes;
    free(pages);
}

#endif
