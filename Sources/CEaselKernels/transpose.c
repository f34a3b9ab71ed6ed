// A batch of matrices transposed in AVX-512 (`Tensor.permuted`'s [B, C, N] -> [B, N, C] and
// its reverse, around every UNet transformer): 16 x 16 blocks through registers, the edges
// masked.

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes.h"
#include "transpose.h"

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))

AVX512 void easel_transpose(const float *src, float *dst, long rows, long cols, long row0, long row1) {
    for (long r0 = row0; r0 < row1; r0 += 16) {
        long nr = row1 - r0 < 16 ? row1 - r0 : 16;
        __mmask16 rowMask = first_lanes(nr);
        for (long c0 = 0; c0 < cols; c0 += 16) {
            long nc = cols - c0 < 16 ? cols - c0 : 16;
            __m512 r[16];
            for (long i = 0; i < 16; i++)
                r[i] = i < nc ? _mm512_maskz_loadu_ps(rowMask, src + (c0 + i) * rows + r0) : _mm512_setzero_ps();
            transpose16_registers(r);
            __mmask16 colMask = first_lanes(nc);
            for (long q = 0; q < nr; q++) _mm512_mask_storeu_ps(dst + (r0 + q) * cols + c0, colMask, r[q]);
        }
    }
}

#else

void easel_transpose(const float *src, float *dst, long rows, long cols, long row0, long row1) {
    for (long r = row0; r < row1; r++)
        for (long c = 0; c < cols; c++) dst[r * cols + c] = src[c * rows + r];
}

#endif
