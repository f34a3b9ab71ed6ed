// binary16 to binary32, exactly, 16 elements at a time with AVX-512 (a checkpoint's float16
// weights are gigabytes of this at load).
//
// The same branch-free definition as ElementConversion.float32Bits(fromFloat16:), so every
// bit pattern widens to the same bits whichever path runs, NaN payloads (signalling ones
// too) included; the hardware conversion (vcvtph2ps) would quiet signalling NaNs.

#include "EaselKernels.h"

#include <string.h>

/// The binary32 bits of the binary16 value `h`: normal values re-biased, infinities and NaNs
/// with their payload, zeros and subnormals as their mantissa times 2^-24 (exact).
static inline uint32_t widen_one(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, magnitude = h & 0x7fffu, exponent = magnitude & 0x7c00u;
    uint32_t widened;
    if (exponent == 0x7c00u) {
        widened = (magnitude << 13) | 0x7f800000u;
    } else if (exponent == 0) {
        float value = (float)magnitude * 0x1p-24f;
        memcpy(&widened, &value, 4);
    } else {
        widened = (magnitude << 13) + (112u << 23);
    }
    return sign | widened;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512bw")))
static long widen_avx512(const uint8_t *source, uint32_t *destination, long count) {
    const __m512i signBit = _mm512_set1_epi32(0x8000), magnitudeBits = _mm512_set1_epi32(0x7fff),
                  exponentBits = _mm512_set1_epi32(0x7c00), bias = _mm512_set1_epi32(112 << 23),
                  infinity = _mm512_set1_epi32(0x7f800000);
    const __m512 subnormalScale = _mm512_set1_ps(0x1p-24f);
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(source + 2 * i)));
        __m512i sign = _mm512_slli_epi32(_mm512_and_si512(h, signBit), 16);
        __m512i magnitude = _mm512_and_si512(h, magnitudeBits);
        __m512i exponent = _mm512_and_si512(magnitude, exponentBits);
        __m512i shifted = _mm512_slli_epi32(magnitude, 13);
        __m512i widened = _mm512_add_epi32(shifted, bias);
        widened = _mm512_mask_mov_epi32(widened, _mm512_cmpeq_epi32_mask(exponent, exponentBits),
                                        _mm512_or_si512(shifted, infinity));
        widened = _mm512_mask_mov_epi32(widened, _mm512_cmpeq_epi32_mask(exponent, _mm512_setzero_si512()),
                                        _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(magnitude), subnormalScale)));
        _mm512_storeu_si512(destination + i, _mm512_or_si512(sign, widened));
    }
    return i;
}
#endif

void easel_widen_float16(const void *source, float *destination, long count) {
    const uint8_t *bytes = (const uint8_t *)source;
    uint32_t *bits = (uint32_t *)destination;
    long i = 0;
#if defined(__x86_64__)
    if (easel_cpu_features() & EASEL_CPU_AVX512) i = widen_avx512(bytes, bits, count);
#endif
    for (; i < count; i++) bits[i] = widen_one((uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8));
}
