// Pieces of the online softmax shared by the fused attentions (attention_f32.c,
// attention_bf16.c), which both hold one key's scores for 16 queries per vector.

#ifndef EASEL_ONLINE_SOFTMAX_H
#define EASEL_ONLINE_SOFTMAX_H

#include <immintrin.h>
#include "lanes.h"

#define SOFTMAX_INLINE __attribute__((always_inline, target("avx512f,fma"))) static inline

/// Queries per block: two groups of 16, one vector each.
#define SOFTMAX_BLOCK 32

/// A block's running maxima (-FLT_MAX: finite, so the first shrink factor is 0, not NaN)
/// and sums (0), SOFTMAX_BLOCK of each.
SOFTMAX_INLINE void softmax_start_block(float *maxima, float *sums) {
    for (long i = 0; i < SOFTMAX_BLOCK; i++) {
        maxima[i] = -__FLT_MAX__;
        sums[i] = 0;
    }
}

/// Keys any of a block's nr queries sees: all nk, or with causalStart >= 0 (query r of the
/// call sees keys 0 ... causalStart + r) those up to the block's last query.
static inline long softmax_keys_seen(long causalStart, long q0, long nr, long nk) {
    long seen = causalStart >= 0 ? causalStart + q0 + nr : nk;
    return seen < nk ? seen : nk;
}

/// Where group g's maximum grew (shrink != 1 in some lane), its partial outputs (`rows`
/// rows of SOFTMAX_BLOCK queries at o) shrink to match.
SOFTMAX_INLINE void softmax_shrink_outputs(float *o, long rows, long g, __m512 shrink) {
    if (!_mm512_cmp_ps_mask(shrink, _mm512_set1_ps(1), _CMP_NEQ_UQ)) return;
    for (long r = 0; r < rows; r++) {
        float *row = o + r * SOFTMAX_BLOCK + g * 16;
        _mm512_store_ps(row, _mm512_mul_ps(shrink, _mm512_load_ps(row)));
    }
}

/// 2^t for t <= 0 above -2^22 (0 far below): 2^n times a polynomial (near minimax) in
/// f = t - n, n the nearest integer (rounded by adding and taking away 1.5 * 2^23), so f is
/// within [-0.5, 0.5]. `accurate`: degree 6, about 1e-7 relative (float32 probabilities);
/// otherwise degree 4, about 3e-6 (probabilities rounded to bfloat16 anyway).
SOFTMAX_INLINE __m512 softmax_exp2(__m512 t, int accurate) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 n = _mm512_sub_ps(_mm512_add_ps(t, magic), magic);
    __m512 f = _mm512_sub_ps(t, n);
    __m512 p;
    if (accurate) {
        p = _mm512_set1_ps(1.534581242594868e-4f);
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3399930903688073e-3f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618489071726799e-3f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550328642129898e-2f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022646248340607e-1f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931471824645996e-1f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    } else {
        p = _mm512_set1_ps(9.569967165589333e-3f);
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5917512625455856e-2f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.40247443318367e-1f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931218504905701e-1f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.999992847442627e-1f));
    }
    return _mm512_scalef_ps(p, n);
}

/// The largest of the first `valid` keys' scores (key k's 16 at s + k * stride) for each
/// of 16 queries; with `causal`, only the keys up to each query's last visible one (`last`,
/// per lane) count. -inf where none does.
SOFTMAX_INLINE __m512 softmax_chunk_maximum(const float *s, long valid, long stride, int causal, __m512i last) {
    __m512 m0 = _mm512_set1_ps(-__builtin_inff()), m1 = m0, m2 = m0, m3 = m0;
    long k = 0;
    if (causal) {
        for (; k < valid; k++) {
            __mmask16 visible = _mm512_cmp_epi32_mask(_mm512_set1_epi32((int)k), last, _MM_CMPINT_LE);
            m0 = _mm512_mask_max_ps(m0, visible, m0, _mm512_load_ps(s + k * stride));
        }
    } else {
        for (; k + 4 <= valid; k += 4) {
            m0 = _mm512_max_ps(m0, _mm512_load_ps(s + k * stride));
            m1 = _mm512_max_ps(m1, _mm512_load_ps(s + (k + 1) * stride));
            m2 = _mm512_max_ps(m2, _mm512_load_ps(s + (k + 2) * stride));
            m3 = _mm512_max_ps(m3, _mm512_load_ps(s + (k + 3) * stride));
        }
        for (; k < valid; k++) m0 = _mm512_max_ps(m0, _mm512_load_ps(s + k * stride));
    }
    return _mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3));
}

/// Rows [0, nr) of out (row stride ldOut), columns [0, dv): the transposed partial outputs
/// (column j's SOFTMAX_BLOCK queries at o + j * SOFTMAX_BLOCK) divided by each query's sum
/// (a query with no visible key gets 0).
SOFTMAX_INLINE void softmax_write_outputs(const float *o, const float *sums, long nr, long dv, float *out,
                                          long ldOut) {
    __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                       _mm512_set1_epi32((int)ldOut));
    for (long g = 0; g * 16 < nr; g++) {
        __m512 sum = _mm512_load_ps(sums + g * 16);
        __m512 inverse = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(sum, _mm512_setzero_ps(), _CMP_GT_OQ),
                                             _mm512_set1_ps(1), sum);
        __mmask16 live = first_lanes(nr - g * 16);
        float *dst = out + g * 16 * ldOut;
        for (long j = 0; j < dv; j++)
            _mm512_mask_i32scatter_ps(dst + j, live, index, _mm512_mul_ps(inverse, _mm512_load_ps(o + j * SOFTMAX_BLOCK + g * 16)), 4);
    }
}

#endif
