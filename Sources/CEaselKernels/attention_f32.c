// Attention in float32 with AVX-512, fused ("flash attention"): scores, softmax and the
// product with the values for a block of 32 queries at a time, over the keys in chunks of
// 128, the scores never leaving L1. The float32 twin of attention_bf16.c, laid out the
// same way: everything transposed, keys along rows and queries along columns, so a vector
// holds one key's scores for 16 queries and every reduction of the softmax is a plain
// vector operation. Per chunk:
// - Sᵀ = k qᵀ in register tiles of 8 keys x 32 queries (each key's element broadcast
//   against a row of qᵀ);
// - per group of 16 queries, the running maximum m and sum l are updated (the online
//   softmax: the partial output shrinks by 2^(c (m_old - m_new)) where the maximum grew) and
//   the probabilities 2^(c (s - m)), c = scale / ln 2, overwrite the scores. Scaling the
//   difference rather than the scores keeps the exponents near the maximum, the ones that
//   count, exact up to one rounding however large the scores are;
// - Oᵀ (dv x 32) += vᵀ pᵀ in register tiles of 8 value columns x 32 queries (each value
//   broadcast against a row of pᵀ).
// Only at the end is each output divided by its query's sum.
// Keys and values come packed once per head (`easel_attention_f32_pack`): keys as [nk, d]
// rows padded with zero keys to a multiple of 8, values as [nk, dv8] rows, dv8 = dv
// rounded up to 8 with zeros.

#include "EaselKernels.h"

#include <string.h>

long easel_attention_f32_packed_size(long nk, long d, long dv) {
    return ((nk + 7) / 8 * 8) * d + nk * ((dv + 7) / 8 * 8);
}

void easel_attention_f32_pack(long nk, long d, long dv, const float *k, long ldk, const float *v, long ldv,
                              float *dst) {
    long nk8 = (nk + 7) / 8 * 8, dv8 = (dv + 7) / 8 * 8;
    for (long j = 0; j < nk; j++) memcpy(dst + j * d, k + j * ldk, sizeof(float) * (size_t)d);
    memset(dst + nk * d, 0, sizeof(float) * (size_t)((nk8 - nk) * d));
    float *values = dst + nk8 * d;
    for (long j = 0; j < nk; j++) {
        memcpy(values + j * dv8, v + j * ldv, sizeof(float) * (size_t)dv);
        memset(values + j * dv8 + dv, 0, sizeof(float) * (size_t)(dv8 - dv));
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes.h"
#include "online_softmax.h"
#include "workspace.h"

#define BQ SOFTMAX_BLOCK
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define KB 128  // keys per chunk

/// The block's queries (rows [0, nr) of q, row stride ldq, d columns), transposed:
/// qt[j*BQ + i] = q[i, j], zero for i >= nr.
AVX512 static void pack_queries(const float *q, long ldq, long nr, long d, float *qt) {
    __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                       _mm512_set1_epi32((int)ldq));
    for (long g = 0; g < 2; g++) {
        __mmask16 rows = first_lanes(nr - g * 16);
        const float *base = q + g * 16 * ldq;
        for (long j = 0; j < d; j++)
            _mm512_store_ps(qt + j * BQ + g * 16, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows, index, base + j, 4));
    }
}

/// Sᵀ for keys [0, keys8) of a chunk (keys8 a multiple of 8): key j, query i at s[j*BQ + i].
AVX512 static void scores(const float *qt, long d, const float *keys, long keys8, float *s) {
    for (long j = 0; j < keys8; j += 8) {
        const float *k = keys + j * d;
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        __m512 a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        for (long c = 0; c < d; c++) {
            __m512 q0 = _mm512_load_ps(qt + c * BQ), q1 = _mm512_load_ps(qt + c * BQ + 16);
#define KEY(t, x0, x1) { __m512 b = _mm512_set1_ps(k[(t) * d + c]); \
            x0 = _mm512_fmadd_ps(b, q0, x0); x1 = _mm512_fmadd_ps(b, q1, x1); }
            KEY(0, a00, a01) KEY(1, a10, a11) KEY(2, a20, a21) KEY(3, a30, a31)
            KEY(4, a40, a41) KEY(5, a50, a51) KEY(6, a60, a61) KEY(7, a70, a71)
#undef KEY
        }
        float *sj = s + j * BQ;
#define STORE(t, x0, x1) { _mm512_store_ps(sj + (t) * BQ, x0); _mm512_store_ps(sj + (t) * BQ + 16, x1); }
        STORE(0, a00, a01) STORE(1, a10, a11) STORE(2, a20, a21) STORE(3, a30, a31)
        STORE(4, a40, a41) STORE(5, a50, a51) STORE(6, a60, a61) STORE(7, a70, a71)
#undef STORE
    }
}

/// Oᵀ (dv8 x BQ) += vᵀ pᵀ over the chunk's first `valid` keys (probabilities p[j*BQ + i],
/// value rows of dv8 columns).
AVX512 static void accumulate_values(float *o, long dv8, const float *p, long valid, const float *values) {
    for (long c0 = 0; c0 < dv8; c0 += 8) {
        float *oc = o + c0 * BQ;
#define LOAD(t, x0, x1) __m512 x0 = _mm512_load_ps(oc + (t) * BQ), x1 = _mm512_load_ps(oc + (t) * BQ + 16);
        LOAD(0, a00, a01) LOAD(1, a10, a11) LOAD(2, a20, a21) LOAD(3, a30, a31)
        LOAD(4, a40, a41) LOAD(5, a50, a51) LOAD(6, a60, a61) LOAD(7, a70, a71)
#undef LOAD
        const float *v = values + c0;
        for (long j = 0; j < valid; j++) {
            __m512 p0 = _mm512_load_ps(p + j * BQ), p1 = _mm512_load_ps(p + j * BQ + 16);
#define VALUE(t, x0, x1) { __m512 b = _mm512_set1_ps(v[j * dv8 + (t)]); \
            x0 = _mm512_fmadd_ps(b, p0, x0); x1 = _mm512_fmadd_ps(b, p1, x1); }
            VALUE(0, a00, a01) VALUE(1, a10, a11) VALUE(2, a20, a21) VALUE(3, a30, a31)
            VALUE(4, a40, a41) VALUE(5, a50, a51) VALUE(6, a60, a61) VALUE(7, a70, a71)
#undef VALUE
        }
#define STORE(t, x0, x1) { _mm512_store_ps(oc + (t) * BQ, x0); _mm512_store_ps(oc + (t) * BQ + 16, x1); }
        STORE(0, a00, a01) STORE(1, a10, a11) STORE(2, a20, a21) STORE(3, a30, a31)
        STORE(4, a40, a41) STORE(5, a50, a51) STORE(6, a60, a61) STORE(7, a70, a71)
#undef STORE
    }
}

/// The online softmax of one group of 16 queries over the chunk's first `valid` keys (key j
/// at s[j*BQ]), probabilities written over the scores. With `causal`, `last` holds each
/// query's last visible key, relative to the chunk, and later keys get probability 0.
/// Returns the factor by which the group's partial outputs must shrink.
__attribute__((always_inline)) AVX512 static inline __m512 softmax_chunk(
    float *s, long valid, float c, int causal, __m512i last, float *maximum, float *sum) {
    __m512 largest = softmax_chunk_maximum(s, valid, BQ, causal, last);
    __m512 old = _mm512_load_ps(maximum);
    // Lanes with nothing visible keep their maximum (-FLT_MAX before any key), so stay finite;
    // the first keys' shrink factor, 2^(c (-FLT_MAX - m)), is 0 (its argument bounded, not -inf).
    __m512 m = _mm512_max_ps(old, largest);
    __m512 vc = _mm512_set1_ps(c);
    __m512 shrink = softmax_exp2(_mm512_max_ps(_mm512_mul_ps(_mm512_sub_ps(old, m), vc), _mm512_set1_ps(-1e30f)), 1);
    _mm512_store_ps(maximum, m);
    __m512 t0 = _mm512_setzero_ps(), t1 = t0;
    long j = 0;
    for (; j + 2 <= valid; j += 2) {
        __m512 e0 = softmax_exp2(_mm512_mul_ps(_mm512_sub_ps(_mm512_load_ps(s + j * BQ), m), vc), 1);
        __m512 e1 = softmax_exp2(_mm512_mul_ps(_mm512_sub_ps(_mm512_load_ps(s + (j + 1) * BQ), m), vc), 1);
        if (causal) {
            e0 = _mm512_maskz_mov_ps(_mm512_cmp_epi32_mask(_mm512_set1_epi32((int)j), last, _MM_CMPINT_LE), e0);
            e1 = _mm512_maskz_mov_ps(_mm512_cmp_epi32_mask(_mm512_set1_epi32((int)j + 1), last, _MM_CMPINT_LE), e1);
        }
        _mm512_store_ps(s + j * BQ, e0);
        _mm512_store_ps(s + (j + 1) * BQ, e1);
        t0 = _mm512_add_ps(t0, e0);
        t1 = _mm512_add_ps(t1, e1);
    }
    if (j < valid) {
        __m512 e0 = softmax_exp2(_mm512_mul_ps(_mm512_sub_ps(_mm512_load_ps(s + j * BQ), m), vc), 1);
        if (causal) e0 = _mm512_maskz_mov_ps(_mm512_cmp_epi32_mask(_mm512_set1_epi32((int)j), last, _MM_CMPINT_LE), e0);
        _mm512_store_ps(s + j * BQ, e0);
        t0 = _mm512_add_ps(t0, e0);
    }
    _mm512_store_ps(sum, _mm512_fmadd_ps(_mm512_load_ps(sum), shrink, _mm512_add_ps(t0, t1)));
    return shrink;
}

AVX512 void easel_attention_f32(long rows, long nk, long d, long dv, float scale, const float *q, long ldq,
                                const float *packed, long causalStart, float *out, long ldOut) {
    if (rows <= 0 || dv <= 0 || nk <= 0) return;
    long nk8 = (nk + 7) / 8 * 8, dv8 = (dv + 7) / 8 * 8;
    const float *keys = packed, *values = packed + nk8 * d;
    size_t qtCount = (size_t)d * BQ, sCount = (size_t)KB * BQ, oCount = (size_t)dv8 * BQ;
    float *work = easel_workspace(3, sizeof(float) * (qtCount + sCount + oCount + 2 * BQ));
    if (!work) easel_out_of_memory("attention's buffers");
    float *qt = work, *s = qt + qtCount, *o = s + sCount;
    float *maxima = o + oCount, *sums = maxima + BQ;
    __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // Denormals flush to zero (exponentials far below the maximum would otherwise cost a
    // microcode assist each); the caller's mode is restored at the end.
    unsigned int mode = _mm_getcsr();
    _mm_setcsr(mode | 0x8040);
    // e^(scale (s - m)) = 2^(c (s - m)).
    float c = scale * 1.44269504088896341f;
    for (long q0 = 0; q0 < rows; q0 += BQ) {
        long nr = rows - q0 < BQ ? rows - q0 : BQ;
        long groups = (nr + 15) / 16;
        pack_queries(q + q0 * ldq, ldq, nr, d, qt);
        memset(o, 0, sizeof(float) * oCount);
        softmax_start_block(maxima, sums);
        long seen = softmax_keys_seen(causalStart, q0, nr, nk);
        for (long k0 = 0; k0 < seen; k0 += KB) {
            long valid = seen - k0 < KB ? seen - k0 : KB;
            scores(qt, d, keys + k0 * d, (valid + 7) / 8 * 8, s);
            for (long g = 0; g < groups; g++) {
                __m512i last = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)(causalStart + q0 + g * 16 - k0)));
                float *mg = maxima + g * 16, *lg = sums + g * 16;
                __m512 shrink = causalStart >= 0 ? softmax_chunk(s + g * 16, valid, c, 1, last, mg, lg)
                                                 : softmax_chunk(s + g * 16, valid, c, 0, last, mg, lg);
                softmax_shrink_outputs(o, dv8, g, shrink);
            }
            accumulate_values(o, dv8, s, valid, values + k0 * dv8);
        }
        softmax_write_outputs(o, sums, nr, dv, out + q0 * ldOut, ldOut);
    }
    _mm_setcsr(mode);
}

#else

void easel_attention_f32(long rows, long nk, long d, long dv, float scale, const float *q, long ldq,
                         const float *packed, long causalStart, float *out, long ldOut) {
    (void)rows; (void)nk; (void)d; (void)dv; (void)scale; (void)q; (void)ldq; (void)packed;
    (void)causalStart; (void)out; (void)ldOut;
}

#endif
