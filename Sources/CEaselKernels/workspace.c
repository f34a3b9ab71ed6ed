#include "workspace.h"
#include "EaselKernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { SLOTS = 4 };
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct {
    void *buffers[SLOTS];
    size_t sizes[SLOTS];
} workspace;

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void release(void *value) {
    workspace *w = value;
    for (int i = 0; i < SLOTS; i++) free(w->buffers[i]);
    free(w);
}

static void make_key(void) { pthread_key_create(&key, release); }

void *easel_workspace(int slot, size_t bytes) {
    pthread_once(&once, make_key);
    workspace *w = pthread_getspecific(key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return NULL;
        pthread_setspecific(key, w);
    }
    if (w->sizes[slot] < bytes) {
        free(w->buffers[slot]);
        // From 2 MB on (a float32 product's packed B panels: 6 MB), on transparent huge
        // pages where Linux gives them: fewer TLB misses in the kernels' reads. These are a
        // few buffers per thread, made once; tensors' buffers stay on small pages (BufferPool).
        size_t page = bytes >= HUGE_PAGE ? HUGE_PAGE : 4096;
        size_t size = (bytes + page - 1) & ~(page - 1);
        w->buffers[slot] = aligned_alloc(page, size);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (w->buffers[slot] && page == HUGE_PAGE) madvise(w->buffers[slot], size, MADV_HUGEPAGE);
#endif
        w->sizes[slot] = w->buffers[slot] ? size : 0;
    }
    return w->buffers[slot];
}

void easel_out_of_memory(const char *what) {
    fprintf(stderr, "easel: out of memory for %s\n", what);
    abort();
}

void easel_scale_block(long m, long n, float beta, float *c, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
}

void easel_add_bias(long m, long n, const float *bias, int perRow, float *c, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) c[i * ldc + j] += perRow ? bias[i] : bias[j];
}

void easel_fill_bias(long m, long n, const float *bias, int perRow, float *c, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) c[i * ldc + j] = perRow ? bias[i] : bias[j];
}
