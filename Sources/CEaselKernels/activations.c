// Elementwise passes of the UNet in AVX-512: GEGLU's gating with the exact (erf) GELU,
// hidden * gelu(gate), and group norm's affine pass with its SiLU. The arithmetic of
// EaselTensor's vector functions (`vgelu`, `verf`, `vsigmoid`, `vexp` in VectorMath.swift)
// operation for operation, each a separate rounding as Swift's are (no fused multiply-adds),
// so the results are the same bits. Swift's generic 16-lane vectors compile to 4-lane SSE
// for a baseline x86-64 build; here they are whole registers.

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes.h"

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))

/// `vexp`: e^x, 0 below about -87.7, saturating above 88.3.
AVX512 static inline __m512 exp16(__m512 x) {
    __m512 magic = _mm512_set1_ps(12582912.0f);
    // vmin(x, 88.3) and vmax(., -88) keep x where the comparison is false (NaN too).
    __m512 clamped = _mm512_max_ps(_mm512_set1_ps(-88.0f), _mm512_min_ps(_mm512_set1_ps(88.3f), x));
    __m512 shifted = _mm512_add_ps(_mm512_mul_ps(clamped, _mm512_set1_ps(1.44269504088896341f)), magic);
    __m512 n = _mm512_sub_ps(shifted, magic);
    __m512 r = _mm512_add_ps(_mm512_sub_ps(clamped, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f))),
                             _mm512_mul_ps(n, _mm512_set1_ps(2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(p, _mm512_mul_ps(r, r)), r), _mm512_set1_ps(1.0f));
    __m512i nBits = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4b400000));
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(nBits, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(p, scale);
}

/// `verf`: Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7.
AVX512 static inline __m512 erf16(__m512 x) {
    __m512i bits = _mm512_castps_si512(x);
    __m512i sign = _mm512_and_si512(bits, _mm512_set1_epi32((int)0x80000000u));
    __m512 ax = _mm512_castsi512_ps(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)));
    __m512 one = _mm512_set1_ps(1.0f);
    __m512 t = _mm512_div_ps(one, _mm512_add_ps(one, _mm512_mul_ps(_mm512_set1_ps(0.3275911f), ax)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_sub_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(1.453152027f));
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(1.421413741f));
    p = _mm512_sub_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(0.284496736f));
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(0.254829592f));
    __m512 e = exp16(_mm512_xor_ps(_mm512_mul_ps(ax, ax), _mm512_set1_ps(-0.0f)));
    __m512 y = _mm512_sub_ps(one, _mm512_mul_ps(_mm512_mul_ps(p, t), e));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y), sign));
}

AVX512 void easel_geglu_erf(const float *hidden, const float *gate, float *dst, long n) {
    __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f), rsqrt2 = _mm512_set1_ps(0.70710678118654752f);
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = first_lanes(n - i);
        __m512 h = _mm512_maskz_loadu_ps(m, hidden + i), g = _mm512_maskz_loadu_ps(m, gate + i);
        __m512 gelu = _mm512_mul_ps(_mm512_mul_ps(half, g), _mm512_add_ps(one, erf16(_mm512_mul_ps(g, rsqrt2))));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(h, gelu));
    }
}

AVX512 void easel_affine_silu(const float *src, float *dst, long n, float scale, float shift, int silu) {
    __m512 vs = _mm512_set1_ps(scale), vt = _mm512_set1_ps(shift), one = _mm512_set1_ps(1.0f);
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = first_lanes(n - i);
        __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), vs), vt);
        if (silu) {
            // y * vsigmoid(y), vsigmoid(y) = 1 / (1 + vexp(-y)).
            __m512 e = exp16(_mm512_xor_ps(y, _mm512_set1_ps(-0.0f)));
            y = _mm512_mul_ps(y, _mm512_div_ps(one, _mm512_add_ps(one, e)));
        }
        _mm512_mask_storeu_ps(dst + i, m, y);
    }
}

#else

void easel_affine_silu(const float *src, float *dst, long n, float scale, float shift, int silu) {
    (void)src; (void)dst; (void)n; (void)scale; (void)shift; (void)silu;
}

void easel_geglu_erf(const float *hidden, const float *gate, float *dst, long n) {
    (void)hidden; (void)gate; (void)dst; (void)n;
}

#endif
