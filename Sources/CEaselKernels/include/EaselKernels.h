// EaselKernels: the matrix-product kernels EaselTensor runs on x86-64 CPUs.
//
// Every function here is single-threaded; EaselTensor splits products across cores by
// shape (BLAS.swift), so each output element is one and the same sum whatever the thread
// count. All matrices are row-major with leading dimensions in elements.
//
// The kernels are compiled for their instruction sets with function attributes, so this
// library builds for (and loads on) any x86-64 CPU; callers ask `easel_cpu_features()`
// before calling one, and use OpenBLAS otherwise. On other architectures the feature word
// is 0 and the kernels must not be called.

#ifndef EASEL_KERNELS_H
#define EASEL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// AVX-512 F, DQ, BW and VL, with the OS saving the ZMM registers.
#define EASEL_CPU_AVX512 1u
/// AVX-512 BF16 (vdpbf16ps, vcvtne2ps2bf16).
#define EASEL_CPU_AVX512_BF16 2u
/// AMX tiles with BF16 multiplication, enabled by the OS for this process.
#define EASEL_CPU_AMX_BF16 4u

/// The features this CPU and OS offer, detected once (the first call also asks Linux for
/// permission to use AMX tile data in this process).
unsigned easel_cpu_features(void);

/// Element types of a product's operands.
typedef enum {
    EASEL_FLOAT32 = 0,
    /// bfloat16, the upper half of a binary32, stored as uint16_t.
    EASEL_BFLOAT16 = 1,
} easel_element_type;

/// `C = alpha * op(A) * op(B) + beta * C` in float32 with AVX-512 FMA.
///
/// A is [m, k] (or [k, m] when transA), B is [k, n] (or [n, k] when transB), C is [m, n].
/// With beta == 0, C is not read. Needs EASEL_CPU_AVX512.
void easel_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha,
                        const float *a, long lda, const float *b, long ldb,
                        float beta, float *c, long ldc);

/// The same product with bfloat16 multiplication and float32 accumulation on AMX tiles:
/// each operand is float32 (rounded to bfloat16, nearest-even) or bfloat16. Needs
/// EASEL_CPU_AMX_BF16.
void easel_gemm_bf16_amx(int transA, int transB, long m, long n, long k, float alpha,
                         const void *a, easel_element_type aType, long lda,
                         const void *b, easel_element_type bType, long ldb,
                         float beta, float *c, long ldc);

/// C = beta * C for an m x n block (0 when beta is 0, never reading C): what a product
/// with nothing to multiply (k or alpha 0) leaves. Plain C, any CPU.
void easel_scale_block(long m, long n, float beta, float *c, long ldc);

/// Rounds `count` float32 values to bfloat16 (nearest, ties to even; NaN stays NaN).
void easel_round_to_bfloat16(const float *source, uint16_t *destination, long count);

#ifdef __cplusplus
}
#endif

#endif
