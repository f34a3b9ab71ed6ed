// Float32 matrix product with AVX-512 FMA: packed operands and a 14 x 32 register tile.
//
// The loops are the usual ones (Goto / BLIS): B is packed KC x NC at a time into panels of
// NR columns, A MC x KC at a time into panels of MR rows, and the micro-kernel keeps an
// MR x NR block of C in 28 registers while it runs over KC. Every output element is the
// same sum for a given k (KC is a constant), whatever m, n or the caller's panel split.

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "workspace.h"
#include "lanes.h"
#include "transpose.h"
#include "sgemm.h"

#define MR SGEMM_MR
#define NR SGEMM_NR
#define KC SGEMM_KC
#define MC (MR * 24)
#define NC 4096

_Static_assert(MR == EASEL_SGEMM_ROWS && NR == EASEL_SGEMM_COLUMNS, "the public tile is the kernel's");

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

static inline long min_l(long a, long b) { return a < b ? a : b; }

/// Packs rows [i0, i0+mc) x columns [p0, p0+kc) of op(A) into panels of MR rows:
/// panel r holds, for each p, the MR values A(i0 + r*MR + 0..MR-1, p0 + p); rows past m are 0.
AVX512 static void pack_a(int trans, const float *a, long lda, long i0, long mc, long p0, long kc, float *dst) {
    for (long r0 = 0; r0 < mc; r0 += MR) {
        long rows = min_l(MR, mc - r0);
        float *panel = dst + r0 * kc;
        if (trans) {
            // A stored [k, m]: the MR values of one p are contiguous.
            for (long p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + r0;
                float *d = panel + p * MR;
                long r = 0;
                for (; r < rows; r++) d[r] = src[r];
                for (; r < MR; r++) d[r] = 0;
            }
        } else {
            // Row r's values are contiguous in A; written MR apart: 16 values of each row at a
            // time, transposed in registers, the rest one by one (the compiler's vector form
            // of that loop is a scatter, several times slower).
            const float *src = a + (i0 + r0) * lda + p0;
            long p = 0;
            for (; p + 16 <= kc; p += 16) {
                __m512 r[16];
                transpose16(src + p, lda, rows, r);
                for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(panel + (p + q) * MR, first_lanes(MR), r[q]);
            }
            for (; p < kc; p++) {
                float *d = panel + p * MR;
                long r = 0;
#pragma clang loop vectorize(disable)
                for (; r < rows; r++) d[r] = src[r * lda + p];
                for (; r < MR; r++) d[r] = 0;
            }
        }
    }
}

/// Packs rows [p0, p0+kc) x columns [j0, j0+nc) of op(B) into panels of NR columns:
/// panel j holds, for each p, the NR values B(p0 + p, j0 + j*NR + 0..NR-1); columns past n are 0.
AVX512 static void pack_b(int trans, const float *b, long ldb, long j0, long nc, long p0, long kc, float *dst) {
    for (long c0 = 0; c0 < nc; c0 += NR) {
        long cols = min_l(NR, nc - c0);
        float *panel = dst + c0 * kc;
        if (!trans) {
            __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);
            for (long p = 0; p < kc; p++) {
                const float *src = b + (p0 + p) * ldb + j0 + c0;
                _mm512_store_ps(panel + p * NR, _mm512_maskz_loadu_ps(m0, src));
                _mm512_store_ps(panel + p * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
            }
        } else {
            // B stored [n, k]: each column's kc values are contiguous; written NR apart
            // (transposed 16 x 16 at a time, the rest one by one, as in pack_a).
            const float *src = b + (j0 + c0) * ldb + p0;
            long p = 0;
            for (; p + 16 <= kc; p += 16) {
                __m512 lo[16], hi[16];
                transpose16(src + p, ldb, cols, lo);
                transpose16(src + 16 * ldb + p, ldb, cols - 16, hi);
                for (int q = 0; q < 16; q++) {
                    _mm512_store_ps(panel + (p + q) * NR, lo[q]);
                    _mm512_store_ps(panel + (p + q) * NR + 16, hi[q]);
                }
            }
            for (; p < kc; p++) {
                float *d = panel + p * NR;
                long c = 0;
#pragma clang loop vectorize(disable)
                for (; c < cols; c++) d[c] = src[c * ldb + p];
                for (; c < NR; c++) d[c] = 0;
            }
        }
    }
}

/// C[0..rows, 0..cols] = alpha * (A panel x B panel) + (accumulate ? C : beta * C), plus a
/// bias where given and the block does not accumulate (then beta is 0): bias[0..cols] on
/// every row, or bias[r] along row r (perRow). The sums C would hold had it been filled with
/// the bias and multiplied with beta 1. `halves`: 2, or 1 where cols <= 16, which skips the
/// right half of the tile (its columns are the same sums either way).
AVX512 static inline __attribute__((always_inline)) void
micro_tile(long kc, const float *restrict a, const float *restrict b, float *c, long ldc, long rows, long cols,
           float alpha, float beta, int accumulate, const float *bias, int perRow, const int halves) {
    __m512 acc[MR][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
    }
    for (long p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(b + p * NR), b1 = halves == 2 ? _mm512_load_ps(b + p * NR + 16) : b0;
        const float *ap = a + p * MR;
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(ap[r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            if (halves == 2) acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha);
    __mmask16 m0 = first_lanes(cols), m1 = halves == 2 ? first_lanes(cols - 16) : 0;
    if (accumulate || beta != 0) {
        __m512 vb = _mm512_set1_ps(accumulate ? 1.0f : beta);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            if (r < rows) {
                float *row = c + r * ldc;
                __m512 c0 = _mm512_maskz_loadu_ps(m0, row), c1 = _mm512_maskz_loadu_ps(m1, row + 16);
                _mm512_mask_storeu_ps(row, m0, _mm512_fmadd_ps(va, acc[r][0], _mm512_mul_ps(vb, c0)));
                if (halves == 2) _mm512_mask_storeu_ps(row + 16, m1, _mm512_fmadd_ps(va, acc[r][1], _mm512_mul_ps(vb, c1)));
            }
        }
    } else if (bias) {
        __m512 bias0 = perRow ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, bias);
        __m512 bias1 = perRow ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, bias + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            if (r < rows) {
                float *row = c + r * ldc;
                if (perRow) bias0 = bias1 = _mm512_set1_ps(bias[r]);
                _mm512_mask_storeu_ps(row, m0, _mm512_fmadd_ps(va, acc[r][0], bias0));
                if (halves == 2) _mm512_mask_storeu_ps(row + 16, m1, _mm512_fmadd_ps(va, acc[r][1], bias1));
            }
        }
    } else {
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            if (r < rows) {
                float *row = c + r * ldc;
                _mm512_mask_storeu_ps(row, m0, _mm512_mul_ps(va, acc[r][0]));
                if (halves == 2) _mm512_mask_storeu_ps(row + 16, m1, _mm512_mul_ps(va, acc[r][1]));
            }
        }
    }
}

AVX512 void easel_sgemm_micro_kernel(long kc, const float *restrict a, const float *restrict b,
                                     float *c, long ldc, long rows, long cols,
                                     float alpha, float beta, int accumulate, const float *bias, int perRow) {
    if (cols <= 16) micro_tile(kc, a, b, c, ldc, rows, cols, alpha, beta, accumulate, bias, perRow, 1);
    else micro_tile(kc, a, b, c, ldc, rows, cols, alpha, beta, accumulate, bias, perRow, 2);
}

long easel_sgemm_packed_floats(int asA, long outer, long k) {
    long width = asA ? MR : NR;
    return (outer + width - 1) / width * width * k;
}

AVX512 void easel_sgemm_pack(int asA, int trans, long outer0, long count, long k,
                             const float *src, long ld, float *dst) {
    if (count <= 0 || k <= 0) return;
    // With p0 = 0 and kc = k, the panel of row (column) i lands at dst + i * k, and its
    // steps from p0 on at + p0 * MR (NR): the blocks easel_sgemm_avx512 would pack.
    if (asA) pack_a(trans, src, ld, outer0, count, 0, k, dst + outer0 * k);
    else pack_b(trans, src, ld, outer0, count, 0, k, dst + outer0 * k);
}

AVX512 void easel_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha,
                               const float *a, long lda, const float *sharedA,
                               const float *b, long ldb, const float *sharedB,
                               float beta, float *c, long ldc, const float *bias, int biasPerRow) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        easel_scale_block(m, n, beta, c, ldc);
        if (bias) easel_add_bias(m, n, bias, biasPerRow, c, ldc);
        return;
    }
    long kcMax = min_l(KC, k);
    long ncMax = min_l(NC, (n + NR - 1) / NR * NR);
    long mcMax = min_l(MC, (m + MR - 1) / MR * MR);
    float *packedB = sharedB ? NULL : easel_workspace(0, sizeof(float) * (size_t)(kcMax * ncMax));
    float *packedA = sharedA ? NULL : easel_workspace(1, sizeof(float) * (size_t)(kcMax * mcMax));
    if ((!sharedA && !packedA) || (!sharedB && !packedB)) easel_out_of_memory("packing buffers of a matrix product");
    for (long j0 = 0; j0 < n; j0 += NC) {
        long nc = min_l(NC, n - j0);
        for (long p0 = 0; p0 < k; p0 += KC) {
            long kc = min_l(KC, k - p0);
            if (!sharedB) pack_b(transB, b, ldb, j0, nc, p0, kc, packedB);
            for (long i0 = 0; i0 < m; i0 += MC) {
                long mc = min_l(MC, m - i0);
                if (!sharedA) pack_a(transA, a, lda, i0, mc, p0, kc, packedA);
                for (long jr = 0; jr < nc; jr += NR) {
                    const float *bp = sharedB ? sharedB + (j0 + jr) * k + p0 * NR : packedB + jr * kc;
                    for (long ir = 0; ir < mc; ir += MR) {
                        const float *ap = sharedA ? sharedA + (i0 + ir) * k + p0 * MR : packedA + ir * kc;
                        easel_sgemm_micro_kernel(kc, ap, bp, c + (i0 + ir) * ldc + j0 + jr, ldc,
                                                 min_l(MR, mc - ir), min_l(NR, nc - jr),
                                                 alpha, beta, p0 > 0,
                                                 !bias ? NULL : biasPerRow ? bias + i0 + ir : bias + j0 + jr, biasPerRow);
                    }
                }
            }
        }
    }
}

#else

long easel_sgemm_packed_floats(int asA, long outer, long k) {
    (void)asA; (void)outer; (void)k;
    return 0;
}

void easel_sgemm_pack(int asA, int trans, long outer0, long count, long k, const float *src, long ld, float *dst) {
    (void)asA; (void)trans; (void)outer0; (void)count; (void)k; (void)src; (void)ld; (void)dst;
}

void easel_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha,
                        const float *a, long lda, const float *sharedA,
                        const float *b, long ldb, const float *sharedB,
                        float beta, float *c, long ldc, const float *bias, int biasPerRow) {
    (void)transA; (void)transB; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)sharedA;
    (void)b; (void)ldb; (void)sharedB; (void)beta; (void)c; (void)ldc; (void)bias; (void)biasPerRow;
}

#endif
