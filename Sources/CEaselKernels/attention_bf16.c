// Attention with bfloat16 products, fused ("flash attention"): scores, softmax and the
// product with the values for a block of 32 queries at a time, over the keys in chunks of
// 128, without the scores ever leaving L1. Two kernels share everything but the products:
// on AMX tiles (`easel_attention_bf16_amx`) and with AVX-512 BF16 dot products for a CPU
// without AMX (`easel_attention_bf16_dot`, vdpbf16ps: each 32-bit lane sums one pair).
//
// Everything is computed transposed, keys along rows and queries along columns, so that a
// vector holds one key's scores for 16 queries and every reduction of the softmax (the
// running maximum, the sums) is a plain vector operation, with no horizontal reduction and
// no scalar work per row. Per chunk:
// - Sᵀ = k qᵀ (AMX: four 16 x 16 tiles per 32 keys, the head's dimensions in 32-deep
//   steps; dot products: register tiles of 8 keys x 32 queries, each key's pair of
//   dimensions broadcast against the queries' pair row), stored to a 128 x 32 float buffer;
// - per group of 16 queries, the running maximum m and sum l are updated (the online
//   softmax: the partial output is scaled by 2^(m_old - m_new) where the maximum grew), and
//   the probabilities 2^(c s - m), c = scale / ln 2, are rounded to bfloat16 straight into
//   the "VNNI" right operand of the product with the values (two keys interleaved per
//   query);
// - Oᵀ (dv x 32 floats) += vᵀ pᵀ (AMX: on tiles; dot products: register tiles of 8 value
//   columns x 32 queries, each column's pair of keys broadcast against the pair row of
//   probabilities).
// Only at the end is each output divided by its query's sum, once per output element.
// Keys and values come packed once per head as left operands (`easel_amx_pack_a`: k as
// [nk, d], vᵀ as [dv, nk]); the dot products read the same layout, skipping the zero
// padding of the head's dimensions.

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "amx.h"
#include "lanes.h"
#include "online_softmax.h"
#include "workspace.h"

#define BQ SOFTMAX_BLOCK
#define KB 128  // keys per chunk: four panels of 32
#define BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

/// The block's queries (rows [0, nr) of q, row stride ldq, d columns) rounded to bfloat16
/// as right tile operands qᵀ: step s (32 dimensions), group g (16 queries) at
/// qb + (s*2 + g)*512, dimension pair j, query i at j*32 + i*2. Zero past d and nr.
BF16 static void pack_queries(const float *q, long ldq, long nr, long d, long dSteps, uint16_t *qb) {
    __m512i order = _mm512_loadu_si512(easel_amx_pair_order);
    __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (long g = 0; g < 2; g++) {
        __mmask16 rows = first_lanes(nr - g * 16);
        __m512i index = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)ldq));
        const float *base = q + g * 16 * ldq;
        for (long j = 0; j < dSteps * 16; j++) {
            long e = 2 * j;
            __m512 even = e < d ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows, index, base + e, 4) : _mm512_setzero_ps();
            __m512 odd = e + 1 < d ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows, index, base + e + 1, 4) : _mm512_setzero_ps();
            _mm512_store_si512(qb + ((j / 16) * 2 + g) * 512 + (j % 16) * 32,
                               _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(odd, even)));
        }
    }
}

/// Sᵀ for key panels [panel0, panel0+panels): key k, query group g at s + (g*KB + k)*16.
AMX static void scores_amx(const uint16_t *qb, long dSteps, const uint16_t *keys, long keyStride,
                           long panel0, long panels, float *s) {
    for (long p = 0; p < panels; p++) {
        const uint16_t *kp = keys + (panel0 + p) * keyStride;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (long step = 0; step < dSteps; step++) {
            _tile_loadd(4, kp + step * 1024, 64);
            _tile_loadd(5, kp + step * 1024 + 512, 64);
            _tile_loadd(6, qb + step * 1024, 64);
            _tile_loadd(7, qb + step * 1024 + 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
        float *sp = s + p * 32 * 16;
        _tile_stored(0, sp, 64);
        _tile_stored(1, sp + KB * 16, 64);
        _tile_stored(2, sp + 16 * 16, 64);
        _tile_stored(3, sp + KB * 16 + 16 * 16, 64);
    }
}

/// Oᵀ (row stride BQ) += vᵀ pᵀ over `steps` steps of 32 keys from key step step0, for
/// both query groups, value rows in tiles of 16.
AMX static void accumulate_values_amx(float *o, long valueTiles, const uint16_t *pb, long steps,
                                      const uint16_t *values, long valueStride, long step0) {
#define VALUE_TILE(j) (values + ((j) / 2) * valueStride + ((step0 + s) * 2 + (j) % 2) * 512)
    for (long j = 0; j < valueTiles; j += 2) {
        float *oj = o + j * 16 * BQ;
        int pair = j + 1 < valueTiles;
        _tile_loadd(0, oj, BQ * 4);
        _tile_loadd(1, oj + 16, BQ * 4);
        if (pair) {
            _tile_loadd(2, oj + 16 * BQ, BQ * 4);
            _tile_loadd(3, oj + 16 * BQ + 16, BQ * 4);
        }
        for (long s = 0; s < steps; s++) {
            _tile_loadd(6, pb + s * 1024, 64);
            _tile_loadd(7, pb + s * 1024 + 512, 64);
            _tile_loadd(4, VALUE_TILE(j), 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            if (pair) {
                _tile_loadd(5, VALUE_TILE(j + 1), 64);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
        }
        _tile_stored(0, oj, BQ * 4);
        _tile_stored(1, oj + 16, BQ * 4);
        if (pair) {
            _tile_stored(2, oj + 16 * BQ, BQ * 4);
            _tile_stored(3, oj + 16 * BQ + 16, BQ * 4);
        }
    }
#undef VALUE_TILE
}

/// One 32-bit pair of bfloat16 at p, broadcast to every lane.
BF16 static inline __m512bh pair_at(const uint16_t *p) {
    int32_t pair;
    memcpy(&pair, p, sizeof pair);
    return (__m512bh)_mm512_set1_epi32(pair);
}

/// `scores_amx` with dot products, over the first `dPairs` pairs of dimensions only (the
/// rest are the packing's zeros): per 8 keys, 16 accumulators (8 keys x 2 query groups).
BF16 static void scores_dot(const uint16_t *qb, long dPairs, const uint16_t *keys, long keyStride,
                            long panel0, long panels, float *s) {
    for (long p = 0; p < panels; p++) {
        const uint16_t *kp = keys + (panel0 + p) * keyStride;
        for (long r0 = 0; r0 < 32; r0 += 8) {
            __m512 acc[8][2];
            for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
            for (long j = 0; j < dPairs; j++) {
                // Pair j of step j / 16: the queries' pair row, each key's pair in its row.
                const uint16_t *qs = qb + (j / 16) * 1024 + (j % 16) * 32;
                const uint16_t *ks = kp + (j / 16) * 1024 + r0 * 32 + (j % 16) * 2;
                __m512bh q0 = (__m512bh)_mm512_load_si512(qs), q1 = (__m512bh)_mm512_load_si512(qs + 512);
                for (int r = 0; r < 8; r++) {
                    __m512bh x = pair_at(ks + r * 32);
                    acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, q0);
                    acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, q1);
                }
            }
            float *sp = s + (p * 32 + r0) * 16;
            for (int r = 0; r < 8; r++) {
                _mm512_store_ps(sp + r * 16, acc[r][0]);
                _mm512_store_ps(sp + KB * 16 + r * 16, acc[r][1]);
            }
        }
    }
}

/// `accumulate_values_amx` with dot products, over the chunk's first `pairs` pairs of keys
/// (from key step step0) and the first dv8 value rows (dv rounded up to 8): per 8 value
/// rows, 16 accumulators (8 rows x 2 query groups).
BF16 static void accumulate_values_dot(float *o, long dv8, const uint16_t *pb, long pairs,
                                       const uint16_t *values, long valueStride, long step0) {
    for (long c0 = 0; c0 < dv8; c0 += 8) {
        // Rows c0 ... c0 + 7 of vᵀ lie in one 16-row tile: pair j of its step s at
        // tile + s * 1024 + (c % 16) * 32 + j * 2.
        const uint16_t *tile = values + (c0 / 32) * valueStride + (step0 * 2 + (c0 / 16) % 2) * 512 + (c0 % 16) * 32;
        __m512 acc[8][2];
        for (int r = 0; r < 8; r++) {
            acc[r][0] = _mm512_load_ps(o + (c0 + r) * BQ);
            acc[r][1] = _mm512_load_ps(o + (c0 + r) * BQ + 16);
        }
        for (long j = 0; j < pairs; j++) {
            const uint16_t *ps = pb + (j / 16) * 1024 + (j % 16) * 32;
            const uint16_t *vs = tile + (j / 16) * 1024 + (j % 16) * 2;
            __m512bh p0 = (__m512bh)_mm512_load_si512(ps), p1 = (__m512bh)_mm512_load_si512(ps + 512);
            for (int r = 0; r < 8; r++) {
                __m512bh x = pair_at(vs + r * 32);
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, p0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, p1);
            }
        }
        for (int r = 0; r < 8; r++) {
            _mm512_store_ps(o + (c0 + r) * BQ, acc[r][0]);
            _mm512_store_ps(o + (c0 + r) * BQ + 16, acc[r][1]);
        }
    }
}

/// Probabilities of keys k and k + 1 as one pair row of a VNNI tile, their sums added to
/// `total`. With `causal`, lanes whose query's last visible key (`last`) is before a key
/// get 0.
__attribute__((always_inline)) BF16 static inline void probability_pair(
    const float *s, long k, int second, __m512 vc, __m512 negM, int causal, __m512i last,
    __m512i order, __m512 *total, uint16_t *dst) {
    __m512 e0 = softmax_exp2(_mm512_fmadd_ps(_mm512_load_ps(s + k * 16), vc, negM), 0);
    __m512 e1 = second ? softmax_exp2(_mm512_fmadd_ps(_mm512_load_ps(s + k * 16 + 16), vc, negM), 0) : _mm512_setzero_ps();
    if (causal) {
        e0 = _mm512_maskz_mov_ps(_mm512_cmp_epi32_mask(_mm512_set1_epi32((int)k), last, _MM_CMPINT_LE), e0);
        e1 = _mm512_maskz_mov_ps(_mm512_cmp_epi32_mask(_mm512_set1_epi32((int)k + 1), last, _MM_CMPINT_LE), e1);
    }
    *total = _mm512_add_ps(*total, _mm512_add_ps(e0, e1));
    _mm512_store_si512(dst, _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(e1, e0)));
}

/// The online softmax of one group of 16 queries over `valid` keys of a chunk (its scores
/// at s, key k at s + k*16), `pairs` key pairs of probabilities written to pb (zero past
/// valid). With `causal`, `last` holds each query's last visible key, relative to the
/// chunk. c must be positive. Returns the factor by which the group's partial outputs must
/// shrink.
__attribute__((always_inline)) BF16 static inline __m512 softmax_chunk(
    const float *s, long valid, long pairs, float c, int causal, __m512i last,
    float *maximum, float *sum, uint16_t *pb) {
    __m512 largest = softmax_chunk_maximum(s, valid, 16, causal, last);
    __m512 old = _mm512_load_ps(maximum);
    // Lanes with nothing visible keep their maximum (-FLT_MAX before any key), so stay finite;
    // the first keys' shrink factor, 2^(-FLT_MAX - m), is 0 (its argument bounded, not -inf).
    __m512 m = _mm512_max_ps(old, _mm512_mul_ps(largest, _mm512_set1_ps(c)));
    __m512 shrink = softmax_exp2(_mm512_max_ps(_mm512_sub_ps(old, m), _mm512_set1_ps(-1e30f)), 0);
    _mm512_store_ps(maximum, m);
    __m512 vc = _mm512_set1_ps(c), negM = _mm512_sub_ps(_mm512_setzero_ps(), m);
    __m512 total = _mm512_setzero_ps();
    __m512i order = _mm512_loadu_si512(easel_amx_pair_order);
    long j = 0;
    for (; 2 * j + 2 <= valid; j++)
        probability_pair(s, 2 * j, 1, vc, negM, causal, last, order, &total, pb + (j / 16) * 1024 + (j % 16) * 32);
    if (2 * j < valid) {
        probability_pair(s, 2 * j, 0, vc, negM, causal, last, order, &total, pb + (j / 16) * 1024 + (j % 16) * 32);
        j++;
    }
    for (; j < pairs; j++) _mm512_store_si512(pb + (j / 16) * 1024 + (j % 16) * 32, _mm512_setzero_si512());
    _mm512_store_ps(sum, _mm512_fmadd_ps(_mm512_load_ps(sum), shrink, total));
    return shrink;
}

/// Both kernels: `amx` (a constant once inlined) picks the products.
__attribute__((always_inline)) BF16 static inline void attention(
    int amx, long rows, long nk, long d, long dv, float scale, const float *q, long ldq,
    const uint16_t *keys, long keyStride, const uint16_t *values, long valueStride,
    long causalStart, float *out, long ldOut) {
    long dSteps = (d + 31) / 32, dPairs = (d + 1) / 2;
    long valueTiles = (dv + 15) / 16, dvp = valueTiles * 16, dv8 = (dv + 7) / 8 * 8;
    long keyPanels = (nk + 31) / 32;
    // Scores scaled to base-2 exponents: e^(scale * (s - m)) = 2^(c*s - c*m).
    float c = scale * 1.44269504088896341f;
    size_t qbCount = (size_t)dSteps * 1024, sCount = (size_t)BQ * KB, pbCount = (size_t)KB / 32 * 1024;
    size_t oCount = (size_t)dvp * BQ;
    char *work = easel_workspace(3, 2 * qbCount + 4 * sCount + 2 * pbCount + 4 * oCount + 4 * 2 * BQ);
    if (!work) easel_out_of_memory("attention's buffers");
    uint16_t *qb = (uint16_t *)work;
    float *s = (float *)(work + 2 * qbCount);
    uint16_t *pb = (uint16_t *)(work + 2 * qbCount + 4 * sCount);
    float *o = (float *)(work + 2 * qbCount + 4 * sCount + 2 * pbCount);
    float *maxima = o + oCount, *sums = maxima + BQ;
    __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // Denormals flush to zero (exponentials far below the maximum would otherwise cost a
    // microcode assist each); the caller's mode is restored at the end.
    unsigned int mode = _mm_getcsr();
    _mm_setcsr(mode | 0x8040);
    for (long q0 = 0; q0 < rows; q0 += BQ) {
        long nr = rows - q0 < BQ ? rows - q0 : BQ;
        long groups = (nr + 15) / 16;
        pack_queries(q + q0 * ldq, ldq, nr, d, dSteps, qb);
        memset(o, 0, sizeof(float) * oCount);
        // A group with no queries multiplies zero probabilities.
        if (groups < 2) memset(pb, 0, sizeof(uint16_t) * pbCount);
        softmax_start_block(maxima, sums);
        long seen = softmax_keys_seen(causalStart, q0, nr, nk);
        for (long k0 = 0; k0 < seen; k0 += KB) {
            long panels = (seen - k0 + 31) / 32;
            if (panels > KB / 32) panels = KB / 32;
            if (panels > keyPanels - k0 / 32) panels = keyPanels - k0 / 32;
            long valid = seen - k0 < panels * 32 ? seen - k0 : panels * 32;
            if (amx) scores_amx(qb, dSteps, keys, keyStride, k0 / 32, panels, s);
            else scores_dot(qb, dPairs, keys, keyStride, k0 / 32, panels, s);
            for (long g = 0; g < groups; g++) {
                __m512i last = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)(causalStart + q0 + g * 16 - k0)));
                float *sg = s + g * KB * 16, *mg = maxima + g * 16, *lg = sums + g * 16;
                __m512 shrink = causalStart >= 0
                    ? softmax_chunk(sg, valid, panels * 16, c, 1, last, mg, lg, pb + g * 512)
                    : softmax_chunk(sg, valid, panels * 16, c, 0, last, mg, lg, pb + g * 512);
                softmax_shrink_outputs(o, dvp, g, shrink);
            }
            if (amx) accumulate_values_amx(o, valueTiles, pb, panels, values, valueStride, k0 / 32);
            else accumulate_values_dot(o, dv8, pb, (valid + 1) / 2, values, valueStride, k0 / 32);
        }
        softmax_write_outputs(o, sums, nr, dv, out + q0 * ldOut, ldOut);
    }
    _mm_setcsr(mode);
}

AMX void easel_attention_bf16_amx(long rows, long nk, long d, long dv, float scale,
                                  const float *q, long ldq,
                                  const uint16_t *keys, long keyStride,
                                  const uint16_t *values, long valueStride,
                                  long causalStart, float *out, long ldOut) {
    if (rows <= 0 || dv <= 0 || nk <= 0) return;
    easel_amx_configure_tiles();
    attention(1, rows, nk, d, dv, scale, q, ldq, keys, keyStride, values, valueStride, causalStart, out, ldOut);
    _tile_release();
}

BF16 void easel_attention_bf16_dot(long rows, long nk, long d, long dv, float scale,
                                   const float *q, long ldq,
                                   const uint16_t *keys, long keyStride,
                                   const uint16_t *values, long valueStride,
                                   long causalStart, float *out, long ldOut) {
    if (rows <= 0 || dv <= 0 || nk <= 0) return;
    attention(0, rows, nk, d, dv, scale, q, ldq, keys, keyStride, values, valueStride, causalStart, out, ldOut);
}

#else

void easel_attention_bf16_amx(long rows, long nk, long d, long dv, float scale,
                              const float *q, long ldq,
                              const uint16_t *keys, long keyStride,
                              const uint16_t *values, long valueStride,
                              long causalStart, float *out, long ldOut) {
    (void)rows; (void)nk; (void)d; (void)dv; (void)scale; (void)q; (void)ldq; (void)keys; (void)keyStride;
    (void)values; (void)valueStride; (void)causalStart; (void)out; (void)ldOut;
}

void easel_attention_bf16_dot(long rows, long nk, long d, long dv, float scale,
                              const float *q, long ldq,
                              const uint16_t *keys, long keyStride,
                              const uint16_t *values, long valueStride,
                              long causalStart, float *out, long ldOut) {
    easel_attention_bf16_amx(rows, nk, d, dv, scale, q, ldq, keys, keyStride, values, valueStride,
                             causalStart, out, ldOut);
}

#endif
