// The float32 product's register tile, shared by the matrix product (sgemm_avx512.c) and the
// Winograd convolutions (conv_winograd_f32.c, conv_winograd4_f32.c), which multiply their
// own packed operands.

#ifndef EASEL_SGEMM_H
#define EASEL_SGEMM_H

#define SGEMM_MR 14   // rows of an A panel and of the register tile
#define SGEMM_NR 32   // columns of a B panel and of the register tile
#define SGEMM_KC 384  // depth of one pass over the tile

/// C[0..rows, 0..cols] = alpha * (A panel x B panel) + (accumulate ? C : beta * C): A packed
/// as kc steps of SGEMM_MR values, B as kc steps of SGEMM_NR values; plus, where given and
/// not accumulating (beta 0), bias[0..cols] on every row or bias[r] along row r (perRow).
/// Needs AVX-512.
void easel_sgemm_micro_kernel(long kc, const float *restrict a, const float *restrict b,
                              float *c, long ldc, long rows, long cols,
                              float alpha, float beta, int accumulate, const float *bias, int perRow);

#endif
