// Attention's softmax for bfloat16 products: exponentials in AVX-512, written straight into
// the AMX packing of the left operand of the product with the values, so the scores are
// read once and no separate packing pass follows.

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

/// e^x for x <= 88.3, as EaselTensor's `vexpBelow88` computes it (Cephes' polynomial; below
/// -88 the result flushes to exactly 0), with fused multiply-adds.
AVX512 static inline __m512 exp_below_88(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-88.0f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 n = _mm512_sub_ps(shifted, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_castps_si512(magic));
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(p, scale);
}

AVX512 void easel_softmax_pack_bf16(const float *scores, long rows, long keys, long ld, long causalStart,
                                    uint16_t *packed, long panelStride, float *inverseSums) {
    long kp = (keys + 31) / 32 * 32;
    for (long r = 0; r < (rows + 31) / 32 * 32; r++) {
        uint16_t *row = packed + (r / 32) * panelStride + ((r % 32) / 16 * 16 + r % 16) * 32;
        if (r >= rows) {
            // Rows past the last fill their panel with zeros.
            for (long s = 0; s < kp / 32; s++) memset(row + s * 1024, 0, 64);
            continue;
        }
        long visible = causalStart >= 0 ? causalStart + r + 1 : keys;
        if (visible > keys) visible = keys;
        const float *x = scores + r * ld;
        __m512 vmax = _mm512_set1_ps(-__builtin_inff());
        long k = 0;
        for (; k + 16 <= visible; k += 16) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + k));
        if (k < visible)
            vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(vmax, (__mmask16)((1u << (visible - k)) - 1), x + k));
        float maximum = _mm512_reduce_max_ps(vmax);
        __m512 m = _mm512_set1_ps(maximum), sum = _mm512_setzero_ps();
        int empty = maximum == -__builtin_inff();
        for (long s = 0; s < kp / 32; s++) {
            __m512 half[2];
            for (int h = 0; h < 2; h++) {
                long k0 = s * 32 + h * 16;
                long valid = visible - k0;
                __mmask16 mask = valid >= 16 ? 0xffff : valid <= 0 || empty ? 0 : (__mmask16)((1u << valid) - 1);
                __m512 e = _mm512_maskz_mov_ps(mask, exp_below_88(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + k0), m)));
                sum = _mm512_add_ps(sum, e);
                half[h] = e;
            }
            _mm512_store_si512(row + s * 1024, (__m512i)_mm512_cvtne2ps_pbh(half[1], half[0]));
        }
        float total = _mm512_reduce_add_ps(sum);
        inverseSums[r] = total > 0 ? 1 / total : 0;
    }
}

#else

void easel_softmax_pack_bf16(const float *scores, long rows, long keys, long ld, long causalStart,
                             uint16_t *packed, long panelStride, float *inverseSums) {
    (void)scores; (void)rows; (void)keys; (void)ld; (void)causalStart; (void)packed; (void)panelStride; (void)inverseSums;
}

#endif
