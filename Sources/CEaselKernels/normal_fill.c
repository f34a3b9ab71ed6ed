// PyTorch's vectorised Box–Muller (`NormalFill16` for AVX2/AVX-512, with the Cephes float
// log and sincos of `avx_mathfun.h`) on 8 lanes at once, as PyTorch runs it: the same
// operations in the same order, with a fused multiply-add exactly where GCC fuses one in
// PyTorch's x86 wheels (see TorchRandom+Cephes.swift, the one-lane Swift form this must
// match bit for bit, and TorchRandomTests).

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define FMA_TARGET __attribute__((target("avx2,fma")))

static inline float from_bits(uint32_t bits) {
    union { uint32_t u; float f; } v = {bits};
    return v.f;
}

#define SPLAT(bits) _mm256_set1_ps(from_bits(bits))

/// -x as Swift's prefix minus computes it: the sign bit flipped (so -(+0) is -0).
FMA_TARGET static inline __m256 negate(__m256 x) {
    return _mm256_xor_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000)));
}

/// `log256_ps` for positive, finite lanes.
FMA_TARGET static inline __m256 cephes_log(__m256 input) {
    static const uint32_t p[9] = {0x3D9021BB, 0xBDEBD1B8, 0x3DEF251A, 0xBDFE5D4F, 0x3E11E9BF,
                                  0xBE2AAE50, 0x3E4CCEAC, 0xBE7FFFFC, 0x3EAAAAAA};
    __m256 clipped = _mm256_max_ps(input, SPLAT(0x00800000));
    __m256i bits = _mm256_castps_si256(clipped);
    __m256i exponent = _mm256_srli_epi32(bits, 23);
    __m256 x = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(~0x7F800000)),
                                                   _mm256_castps_si256(_mm256_set1_ps(0.5f))));
    __m256 one = _mm256_set1_ps(1);
    __m256 e = _mm256_add_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(exponent, _mm256_set1_epi32(0x7F))), one);
    __m256 below = _mm256_cmp_ps(x, SPLAT(0x3F3504F3), _CMP_LT_OQ);
    __m256 tmp = _mm256_and_ps(x, below);
    x = _mm256_sub_ps(x, one);
    e = _mm256_sub_ps(e, _mm256_and_ps(one, below));
    x = _mm256_add_ps(x, tmp);
    __m256 z = _mm256_mul_ps(x, x);
    __m256 y = SPLAT(p[0]);
    for (int i = 1; i < 9; i++) y = _mm256_fmadd_ps(y, x, SPLAT(p[i]));
    y = _mm256_mul_ps(y, x);
    y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, SPLAT(0xB95E8083)));
    y = _mm256_fmadd_ps(negate(z), _mm256_set1_ps(0.5f), y);
    x = _mm256_add_ps(x, y);
    return _mm256_fmadd_ps(e, SPLAT(0x3F318000), x);
}

/// `sincos256_ps` for finite lanes.
FMA_TARGET static inline void cephes_sincos(__m256 input, __m256 *sine, __m256 *cosine) {
    __m256 signBit = _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000));
    __m256 x = _mm256_andnot_ps(signBit, input);
    __m256 sineSign = _mm256_and_ps(input, signBit);
    __m256i j = _mm256_cvttps_epi32(_mm256_mul_ps(x, SPLAT(0x3FA2F983)));
    j = _mm256_and_si256(_mm256_add_epi32(j, _mm256_set1_epi32(1)), _mm256_set1_epi32(~1));
    __m256 y = _mm256_cvtepi32_ps(j);
    // Bit 2 of j flips the sine's sign; bit 1 clear picks the sine polynomial for the sine.
    __m256i four = _mm256_set1_epi32(4);
    sineSign = _mm256_xor_ps(sineSign, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(j, four), 29)));
    __m256 useSine = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(j, _mm256_set1_epi32(2)), _mm256_setzero_si256()));
    __m256 cosineSign = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_andnot_si256(_mm256_sub_epi32(j, _mm256_set1_epi32(2)), four), 29));

    x = _mm256_fmadd_ps(y, SPLAT(0xBF490000), x);
    x = _mm256_fmadd_ps(y, SPLAT(0xB97DA000), x);
    x = _mm256_fmadd_ps(y, SPLAT(0xB3222169), x);
    __m256 z = _mm256_mul_ps(x, x);

    __m256 cosPoly = _mm256_fmadd_ps(SPLAT(0x37CCF5CE), z, SPLAT(0xBAB6061A));
    cosPoly = _mm256_fmadd_ps(cosPoly, z, SPLAT(0x3D2AAAA5));
    cosPoly = _mm256_mul_ps(cosPoly, z);
    cosPoly = _mm256_fmadd_ps(cosPoly, z, negate(_mm256_mul_ps(z, _mm256_set1_ps(0.5f))));
    cosPoly = _mm256_add_ps(cosPoly, _mm256_set1_ps(1));

    __m256 sinPoly = _mm256_fmadd_ps(SPLAT(0xB94CA1F9), z, SPLAT(0x3C08839E));
    sinPoly = _mm256_fmadd_ps(sinPoly, z, SPLAT(0xBE2AAAA3));
    sinPoly = _mm256_mul_ps(sinPoly, z);
    sinPoly = _mm256_fmadd_ps(sinPoly, x, x);

    __m256 s = _mm256_blendv_ps(cosPoly, sinPoly, useSine);
    __m256 c = _mm256_blendv_ps(sinPoly, cosPoly, useSine);
    *sine = _mm256_xor_ps(s, sineSign);
    *cosine = _mm256_xor_ps(c, cosineSign);
}

FMA_TARGET void easel_normal_fill16(float *data, long blocks) {
    for (long b = 0; b < blocks; b++, data += 16) {
        __m256 u1 = _mm256_sub_ps(_mm256_set1_ps(1), _mm256_loadu_ps(data));
        __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2), cephes_log(u1)));
        __m256 sine, cosine;
        cephes_sincos(_mm256_mul_ps(SPLAT(0x40C90FDB), _mm256_loadu_ps(data + 8)), &sine, &cosine);
        _mm256_storeu_ps(data, _mm256_mul_ps(radius, cosine));
        _mm256_storeu_ps(data + 8, _mm256_mul_ps(radius, sine));
    }
}

#else

void easel_normal_fill16(float *data, long blocks) { (void)data; (void)blocks; }

#endif
