// bfloat16 matrix product with float32 accumulation, on AMX tiles or, on a CPU with
// AVX-512 BF16 but no AMX (Cooper Lake, Zen 4), with its dot-product instruction.
//
// Packed like the float32 product (Goto / BLIS loops), in the layouts the tile loads want:
// A in panels of 32 rows, each 32-wide step of k two 16 x 32 tiles; B in panels of 32
// columns, each 32-deep step of k two 16 x 32 "VNNI" tiles (pairs of k interleaved per
// column). The micro-kernel computes a 32 x 32 block of C: in four tiles on AMX; with
// vdpbf16ps, eight rows at a time, each row's pair of k broadcast against a VNNI row of B
// (one pair for 16 columns, exactly one vector). Both read the same packing, so a weight
// packed once at load serves either. Float32 operands are rounded to bfloat16 (nearest,
// ties to even) while they are packed, so a product of float32 activations and bfloat16
// weights needs no separate conversion pass. k is padded with zeros to a multiple of 32;
// KC is a constant, so each output element is the same sum for a given k whatever the
// caller's split.

#include "EaselKernels.h"

long easel_amx_packed_size(long outer, long k) {
    return (outer + 31) / 32 * 32 * ((k + 31) / 32 * 32);
}

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "workspace.h"
#include "amx.h"
#include "lanes.h"

#define MR 32
#define NR 32
#define KSTEP 32
#define KC 512
#define MC 256
#define NC 1024

static inline long min_l(long a, long b) { return a < b ? a : b; }

/// bfloat16 bits of a float32, nearest-even; NaN stays (quiet) NaN.
static inline uint16_t round_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

/// Element (row, col) of a row-major matrix of `type`, as bfloat16 bits.
static inline uint16_t element(const void *base, easel_element_type type, long row, long col, long ld) {
    if (type == EASEL_BFLOAT16) return ((const uint16_t *)base)[row * ld + col];
    return round_bf16(((const float *)base)[row * ld + col]);
}

/// Packs op(A) rows [i0, i0+mc) x k [p0, p0+kc) (kc padded to kcp, a multiple of 32):
/// panel r0 (32 rows) at dst + (r0/32)*panelStride; within it, step s, half t, row r,
/// element e at ((s*2 + t)*16 + r)*32 + e. Out-of-range rows and k are zero.
AMX static void pack_a(int trans, const void *a, easel_element_type type, long lda, long m,
                       long i0, long mc, long p0, long kc, long kcp, uint16_t *dst, long panelStride) {
    __m512i kOffsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                       _mm512_set1_epi32((int)lda));
    for (long r0 = 0; r0 < mc; r0 += MR) {
        uint16_t *panel = dst + (r0 / MR) * panelStride;
        for (long rr = 0; rr < MR; rr++) {
            long row = i0 + r0 + rr;
            long t = rr / 16, r = rr % 16;
            for (long s = 0; s < kcp / KSTEP; s++) {
                uint16_t *d = panel + ((s * 2 + t) * 16 + r) * 32;
                long kBase = s * KSTEP;
                long valid = row < i0 + mc && row < m ? min_l(KSTEP, kc - kBase) : 0;
                if (valid < 0) valid = 0;
                if (!trans && valid == KSTEP) {
                    if (type == EASEL_FLOAT32) {
                        const float *src = (const float *)a + row * lda + p0 + kBase;
                        __m512 lo = _mm512_loadu_ps(src), hi = _mm512_loadu_ps(src + 16);
                        _mm512_store_si512(d, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                    } else {
                        _mm512_store_si512(d, _mm512_loadu_si512((const uint16_t *)a + row * lda + p0 + kBase));
                    }
                    continue;
                }
                if (trans && valid == KSTEP && type == EASEL_FLOAT32) {
                    // A stored [k, m]: a row's 32 elements of k, one column apart, in two gathers.
                    const float *src = (const float *)a + (p0 + kBase) * lda + row;
                    __m512 lo = _mm512_i32gather_ps(kOffsets, src, 4), hi = _mm512_i32gather_ps(kOffsets, src + 16 * lda, 4);
                    _mm512_store_si512(d, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                    continue;
                }
                long e = 0;
                for (; e < valid; e++)
                    d[e] = trans ? element(a, type, p0 + kBase + e, row, lda)
                                 : element(a, type, row, p0 + kBase + e, lda);
                for (; e < 32; e++) d[e] = 0;
            }
        }
    }
}

const uint16_t easel_amx_pair_order[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                           8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

/// One 16-pair x 16-column VNNI tile of op(B): k [k0, k0+32), columns [col0, col0+16),
/// all inside B, at dst (512 elements).
AMX static void pack_b_tile(int trans, const void *b, easel_element_type type, long ldb,
                            long k0, long col0, uint16_t *dst) {
    if (!trans) {
        __m512i order = _mm512_loadu_si512(easel_amx_pair_order);
        for (long q = 0; q < 16; q++) {
            long k = k0 + 2 * q;
            __m512i both;
            if (type == EASEL_FLOAT32) {
                const float *x = (const float *)b + k * ldb + col0;
                both = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + ldb), _mm512_loadu_ps(x));
            } else {
                const uint16_t *x = (const uint16_t *)b + k * ldb + col0;
                both = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x)),
                                          _mm256_loadu_si256((const __m256i *)(x + ldb)), 1);
            }
            _mm512_store_si512(dst + q * 32, _mm512_permutexvar_epi16(order, both));
        }
        return;
    }
    // B stored [n, k]: a column's k pairs are adjacent, so one 32-bit gather per pair row.
    __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                      _mm512_set1_epi32((int)ldb));
    if (type == EASEL_BFLOAT16) {
        const uint16_t *base = (const uint16_t *)b + col0 * ldb + k0;
        for (long q = 0; q < 16; q++)
            _mm512_store_si512(dst + q * 32, _mm512_i32gather_epi32(rows, base + 2 * q, 2));
    } else {
        __m512i order = _mm512_loadu_si512(easel_amx_pair_order);
        const float *base = (const float *)b + col0 * ldb + k0;
        for (long q = 0; q < 16; q++) {
            __m512 even = _mm512_i32gather_ps(rows, base + 2 * q, 4);
            __m512 odd = _mm512_i32gather_ps(rows, base + 2 * q + 1, 4);
            _mm512_store_si512(dst + q * 32, _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(odd, even)));
        }
    }
}

AMX static void pack_b_edge(int trans, const void *b, easel_element_type type, long ldb, long n,
                            long first, long end, long p0, long kc, long s0, long s1, uint16_t *panel);

/// Packs op(B) k [p0, p0+kc) x columns [j0, j0+nc) (kc padded to kcp): panel c0 (32
/// columns) at dst + (c0/32)*panelStride; within it, step s, half t, k pair q, column c,
/// element e (k = s*32 + 2q + e) at (((s*2 + t)*16 + q)*16 + c)*2 + e. Out-of-range is zero.
AMX static void pack_b(int trans, const void *b, easel_element_type type, long ldb, long n,
                       long j0, long nc, long p0, long kc, long kcp, uint16_t *dst, long panelStride) {
    long fullSteps = kc / KSTEP, wholePanels = 0;
    while (wholePanels * NR + NR <= nc && j0 + wholePanels * NR + NR <= n) wholePanels++;
    // Whole panels inside B: vector packing for every full step of k. B stored [k, n] is
    // read a step of k at a time across all the panels, so that its 32 rows stream
    // (panel by panel, each step touched 32 rows a row length apart, a page each); B stored
    // [n, k] panel by panel, along its rows.
    if (trans) {
        for (long c0 = 0; c0 < wholePanels * NR; c0 += NR)
            for (long s = 0; s < fullSteps; s++)
                for (long t = 0; t < 2; t++)
                    pack_b_tile(trans, b, type, ldb, p0 + s * KSTEP, j0 + c0 + t * 16,
                                dst + (c0 / NR) * panelStride + (s * 2 + t) * 16 * 32);
    } else {
        for (long s = 0; s < fullSteps; s++)
            for (long c0 = 0; c0 < wholePanels * NR; c0 += NR)
                for (long t = 0; t < 2; t++)
                    pack_b_tile(trans, b, type, ldb, p0 + s * KSTEP, j0 + c0 + t * 16,
                                dst + (c0 / NR) * panelStride + (s * 2 + t) * 16 * 32);
    }
    for (long c0 = 0; c0 < nc; c0 += NR) {
        uint16_t *panel = dst + (c0 / NR) * panelStride;
        if (c0 < wholePanels * NR) {
            if (fullSteps * KSTEP < kcp)
                pack_b_edge(trans, b, type, ldb, n, j0 + c0, j0 + nc, p0, kc, fullSteps, kcp / KSTEP, panel);
        } else {
            pack_b_edge(trans, b, type, ldb, n, j0 + c0, j0 + nc, p0, kc, 0, kcp / KSTEP, panel);
        }
    }
}

/// Packs steps [s0, s1) of one B panel starting at column `first` element by element,
/// zero past column `end` (and n) and past kc.
AMX static void pack_b_edge(int trans, const void *b, easel_element_type type, long ldb, long n,
                            long first, long end, long p0, long kc, long s0, long s1, uint16_t *panel) {
    for (long cc = 0; cc < NR; cc++) {
        long col = first + cc;
        long t = cc / 16, c = cc % 16;
        int inside = col < end && col < n;
        for (long s = s0; s < s1; s++) {
            for (long q = 0; q < 16; q++) {
                uint16_t *d = panel + (((s * 2 + t) * 16 + q) * 16 + c) * 2;
                for (long e = 0; e < 2; e++) {
                    long kk = s * KSTEP + 2 * q + e;
                    d[e] = inside && kk < kc
                        ? (trans ? element(b, type, col, p0 + kk, ldb) : element(b, type, p0 + kk, col, ldb))
                        : 0;
                }
            }
        }
    }
}

#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

/// C (rows x cols of a 32 x 32 block) = alpha * block + (accumulate ? C : beta * C).
AVX512BF16 static void combine_block(const float *block, float *c, long ldc, long rows, long cols,
                                     float alpha, float beta, int accumulate) {
    __m512 va = _mm512_set1_ps(alpha);
    __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);
    int readC = accumulate || beta != 0;
    __m512 vb = _mm512_set1_ps(accumulate ? 1.0f : beta);
    for (long r = 0; r < rows; r++) {
        float *row = c + r * ldc;
        __m512 x0 = _mm512_mul_ps(va, _mm512_load_ps(block + r * 32));
        __m512 x1 = _mm512_mul_ps(va, _mm512_load_ps(block + r * 32 + 16));
        if (readC) {
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), x0);
            x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), x1);
        }
        _mm512_mask_storeu_ps(row, m0, x0);
        _mm512_mask_storeu_ps(row + 16, m1, x1);
    }
}

/// Whether a block accumulates onto C (starting from C's values, or from zero when beta is
/// 0): alpha 1 and beta 0 or 1 (layers, with or without a bias already in C), so no
/// combining pass. Whole blocks and ragged ones alike, so that every output element is the
/// same sum wherever its block falls (C first, then each step of k in order): the columns
/// of a batch's images side by side give each image the bits it gets alone.
static inline int onto_c(float alpha, float beta, int accumulate) {
    return alpha == 1 && (accumulate || beta == 0 || beta == 1);
}

/// The rows x cols corner of C into a 32 x 32 block (zero elsewhere); `combine_block` with
/// alpha 1 and beta 0 writes it back.
AVX512BF16 static void block_from_c(const float *c, long ldc, long rows, long cols, float *block) {
    __mmask16 m0 = first_lanes(cols), m1 = first_lanes(cols - 16);
    for (long r = 0; r < MR; r++) {
        _mm512_store_ps(block + r * 32, r < rows ? _mm512_maskz_loadu_ps(m0, c + r * ldc) : _mm512_setzero_ps());
        _mm512_store_ps(block + r * 32 + 16, r < rows ? _mm512_maskz_loadu_ps(m1, c + r * ldc + 16) : _mm512_setzero_ps());
    }
}


/// The same block with AVX-512 BF16 dot products: for eight rows at a time, 16 accumulator
/// vectors (two per row, 16 columns each); per pair of k, the two VNNI rows of B are loaded
/// once and each row's pair of A (32 bits) is broadcast against them.
///
/// A `bias` (given only with alpha 1 and beta 0: the block's columns, or its rows when
/// perRow) starts every sum of the first pass over k, as C filled with it would.
AVX512BF16 static void micro_kernel_dot(long steps, const uint16_t *a, const uint16_t *b,
                                        float *c, long ldc, long rows, long cols,
                                        float alpha, float beta, int accumulate, const float *bias, int perRow) {
    int direct = onto_c(alpha, beta, accumulate);
    int loadC = direct && (accumulate || beta == 1);
    __mmask16 m0 = direct ? first_lanes(cols) : 0xffff, m1 = direct ? first_lanes(cols - 16) : 0xffff;
    int fromBias = bias && !accumulate;
    __m512 bias0 = fromBias && !perRow ? _mm512_maskz_loadu_ps(first_lanes(cols), bias) : _mm512_setzero_ps();
    __m512 bias1 = fromBias && !perRow ? _mm512_maskz_loadu_ps(first_lanes(cols - 16), bias + 16) : _mm512_setzero_ps();
    float block[32 * 32] __attribute__((aligned(64)));
    for (long r0 = 0; r0 < rows; r0 += 8) {
        __m512 acc[8][2];
        for (int r = 0; r < 8; r++) {
            int live = loadC && r0 + r < rows;
            __m512 start0 = bias0, start1 = bias1;
            if (fromBias && perRow) start0 = start1 = _mm512_set1_ps(r0 + r < rows ? bias[r0 + r] : 0);
            acc[r][0] = live ? _mm512_maskz_loadu_ps(m0, c + (r0 + r) * ldc) : start0;
            acc[r][1] = live ? _mm512_maskz_loadu_ps(m1, c + (r0 + r) * ldc + 16) : start1;
        }
        for (long s = 0; s < steps; s++) {
            // Step s of the A panel: its 32 rows of 32 elements one after another.
            const uint16_t *as = a + s * 1024 + r0 * 32, *bs = b + s * 1024;
            for (int q = 0; q < 16; q++) {
                __m512bh b0 = (__m512bh)_mm512_load_si512(bs + q * 32);
                __m512bh b1 = (__m512bh)_mm512_load_si512(bs + 512 + q * 32);
                for (int r = 0; r < 8; r++) {
                    int32_t pair;
                    memcpy(&pair, as + r * 32 + 2 * q, sizeof pair);
                    __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
                    acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
                    acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
                }
            }
        }
        float *out = direct ? c + r0 * ldc : block + r0 * 32;
        long ld = direct ? ldc : 32;
        for (int r = 0; r < 8 && (!direct || r0 + r < rows); r++) {
            _mm512_mask_storeu_ps(out + r * ld, m0, acc[r][0]);
            _mm512_mask_storeu_ps(out + r * ld + 16, m1, acc[r][1]);
        }
    }
    if (!direct) combine_block(block, c, ldc, rows, cols, alpha, beta, accumulate);
}

/// 32 x 32 block on AMX tiles: C = alpha * (A panel x B panel) + (accumulate ? C : beta * C).
AMX static void micro_kernel(long steps, const uint16_t *a, const uint16_t *b,
                             float *c, long ldc, long rows, long cols,
                             float alpha, float beta, int accumulate, const float *bias, int perRow) {
    (void)bias; (void)perRow;   // gemm_bf16 has filled C with the bias
    int direct = onto_c(alpha, beta, accumulate), whole = rows == MR && cols == NR;
    int loadC = direct && (accumulate || beta == 1);
    // A ragged block accumulating onto C does so in a staged copy of its corner of C.
    float block[32 * 32] __attribute__((aligned(64)));
    float *target = direct && whole ? c : block;
    long ld = direct && whole ? ldc : 32;
    if (loadC && !whole) block_from_c(c, ldc, rows, cols, block);
    long stride = ld * (long)sizeof(float);
    if (loadC) {
        _tile_loadd(0, target, stride);
        _tile_loadd(1, target + 16, stride);
        _tile_loadd(2, target + 16 * ld, stride);
        _tile_loadd(3, target + 16 * ld + 16, stride);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    for (long s = 0; s < steps; s++) {
        const uint16_t *as = a + s * 2 * 16 * 32, *bs = b + s * 2 * 16 * 32;
        _tile_loadd(4, as, 64);
        _tile_loadd(5, as + 16 * 32, 64);
        _tile_loadd(6, bs, 64);
        _tile_loadd(7, bs + 16 * 32, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, target, stride);
    _tile_stored(1, target + 16, stride);
    _tile_stored(2, target + 16 * ld, stride);
    _tile_stored(3, target + 16 * ld + 16, stride);
    if (target == c) return;
    // A staged block that started from C's corner holds the whole result: written back as it is.
    if (direct) {
        combine_block(block, c, ldc, rows, cols, 1, 0, 0);
    } else {
        combine_block(block, c, ldc, rows, cols, alpha, beta, accumulate);
    }
}

AMX void easel_amx_configure_tiles(void) {
    struct {
        uint8_t palette, start;
        uint8_t reserved[14];
        uint16_t colsb[16];
        uint8_t rows[16];
    } __attribute__((packed, aligned(64))) config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.colsb[t] = 64;
        config.rows[t] = 16;
    }
    _tile_loadconfig(&config);
}

/// The blocked product, its 32 x 32 blocks on AMX tiles or with dot products.
AMX static void gemm_bf16(long m, long n, long k, float alpha, easel_operand a, easel_operand b,
                          float beta, float *c, long ldc, const float *bias, int biasPerRow, int amx) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        easel_scale_block(m, n, beta, c, ldc);
        if (bias) easel_add_bias(m, n, bias, biasPerRow, c, ldc);
        return;
    }
    if (bias && amx) {
        // The tiles start from C: C filled with the bias, then multiplied onto it.
        easel_fill_bias(m, n, bias, biasPerRow, c, ldc);
        beta = 1;
        bias = NULL;
    }
    long kcMax = (min_l(KC, k) + KSTEP - 1) / KSTEP * KSTEP;
    long ncMax = min_l(NC, (n + NR - 1) / NR * NR);
    long mcMax = min_l(MC, (m + MR - 1) / MR * MR);
    uint16_t *packedB = b.packed ? NULL : easel_workspace(2, sizeof(uint16_t) * (size_t)(kcMax * ncMax));
    uint16_t *packedA = a.packed ? NULL : easel_workspace(3, sizeof(uint16_t) * (size_t)(kcMax * mcMax));
    if ((!a.packed && !packedA) || (!b.packed && !packedB)) easel_out_of_memory("packing buffers of a matrix product");
    if (amx) easel_amx_configure_tiles();
    for (long j0 = 0; j0 < n; j0 += NC) {
        long nc = min_l(NC, n - j0);
        for (long p0 = 0; p0 < k; p0 += KC) {
            long kc = min_l(KC, k - p0);
            long kcp = (kc + KSTEP - 1) / KSTEP * KSTEP;
            // A packed operand already holds every step of k: block p0 starts p0*32 in.
            const uint16_t *blockB;
            long strideB;
            if (b.packed) {
                blockB = (const uint16_t *)b.base + (j0 / NR) * b.ld + p0 * 32;
                strideB = b.ld;
            } else {
                pack_b(b.trans, b.base, b.type, b.ld, n, j0, nc, p0, kc, kcp, packedB, NR * kcp);
                blockB = packedB;
                strideB = NR * kcp;
            }
            for (long i0 = 0; i0 < m; i0 += MC) {
                long mc = min_l(MC, m - i0);
                const uint16_t *blockA;
                long strideA;
                if (a.packed) {
                    blockA = (const uint16_t *)a.base + (i0 / MR) * a.ld + p0 * 32;
                    strideA = a.ld;
                } else {
                    pack_a(a.trans, a.base, a.type, a.ld, m, i0, mc, p0, kc, kcp, packedA, MR * kcp);
                    blockA = packedA;
                    strideA = MR * kcp;
                }
                for (long jr = 0; jr < nc; jr += NR) {
                    for (long ir = 0; ir < mc; ir += MR) {
                        (amx ? micro_kernel : micro_kernel_dot)(
                            kcp / KSTEP, blockA + (ir / MR) * strideA, blockB + (jr / NR) * strideB,
                            c + (i0 + ir) * ldc + j0 + jr, ldc, min_l(MR, mc - ir), min_l(NR, nc - jr),
                            alpha, beta, p0 > 0, !bias ? NULL : biasPerRow ? bias + i0 + ir : bias + j0 + jr,
                            biasPerRow);
                    }
                }
            }
        }
    }
    if (amx) _tile_release();
}

AMX void easel_gemm_bf16_amx_operands(long m, long n, long k, float alpha, easel_operand a, easel_operand b,
                                      float beta, float *c, long ldc, const float *bias, int biasPerRow) {
    gemm_bf16(m, n, k, alpha, a, b, beta, c, ldc, bias, biasPerRow, 1);
}

AMX void easel_gemm_bf16_dot_operands(long m, long n, long k, float alpha, easel_operand a, easel_operand b,
                                      float beta, float *c, long ldc, const float *bias, int biasPerRow) {
    gemm_bf16(m, n, k, alpha, a, b, beta, c, ldc, bias, biasPerRow, 0);
}

void easel_gemm_bf16_amx(int transA, int transB, long m, long n, long k, float alpha,
                         const void *a, easel_element_type aType, long lda,
                         const void *b, easel_element_type bType, long ldb,
                         float beta, float *c, long ldc) {
    easel_operand opA = {a, aType, lda, transA, 0}, opB = {b, bType, ldb, transB, 0};
    easel_gemm_bf16_amx_operands(m, n, k, alpha, opA, opB, beta, c, ldc, NULL, 0);
}

AMX void easel_amx_pack_a(int trans, long m, long k, const void *a, easel_element_type type, long lda,
                          uint16_t *dst, long panelStride) {
    if (m <= 0 || k <= 0) return;
    pack_a(trans, a, type, lda, m, 0, m, 0, k, (k + KSTEP - 1) / KSTEP * KSTEP, dst, panelStride);
}

AMX void easel_amx_pack_b(int trans, long k, long n, const void *b, easel_element_type type, long ldb,
                          uint16_t *dst, long panelStride) {
    if (n <= 0 || k <= 0) return;
    pack_b(trans, b, type, ldb, n, 0, n, 0, k, (k + KSTEP - 1) / KSTEP * KSTEP, dst, panelStride);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
static void round_avx512(const float *source, uint16_t *destination, long count) {
    long i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512 lo = _mm512_loadu_ps(source + i), hi = _mm512_loadu_ps(source + i + 16);
        _mm512_storeu_si512(destination + i, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    for (; i < count; i++) destination[i] = round_bf16(source[i]);
}

void easel_round_to_bfloat16(const float *source, uint16_t *destination, long count) {
    if (easel_cpu_features() & EASEL_CPU_AVX512_BF16) {
        round_avx512(source, destination, count);
        return;
    }
    for (long i = 0; i < count; i++) destination[i] = round_bf16(source[i]);
}

#else

#include <string.h>

void easel_gemm_bf16_amx(int transA, int transB, long m, long n, long k, float alpha,
                         const void *a, easel_element_type aType, long lda,
                         const void *b, easel_element_type bType, long ldb,
                         float beta, float *c, long ldc) {
    (void)transA; (void)transB; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)aType;
    (void)lda; (void)b; (void)bType; (void)ldb; (void)beta; (void)c; (void)ldc;
}

// The AMX entry points exist on every architecture; callers only use them where
// easel_cpu_features() reports AMX, which it never does here.
void easel_gemm_bf16_amx_operands(long m, long n, long k, float alpha, easel_operand a, easel_operand b,
                                  float beta, float *c, long ldc, const float *bias, int biasPerRow) {
    (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)b; (void)beta; (void)c; (void)ldc; (void)bias;
    (void)biasPerRow;
}

void easel_gemm_bf16_dot_operands(long m, long n, long k, float alpha, easel_operand a, easel_operand b,
                                  float beta, float *c, long ldc, const float *bias, int biasPerRow) {
    (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)b; (void)beta; (void)c; (void)ldc; (void)bias;
    (void)biasPerRow;
}

void easel_amx_pack_a(int trans, long m, long k, const void *a, easel_element_type type, long lda,
                      uint16_t *dst, long panelStride) {
    (void)trans; (void)m; (void)k; (void)a; (void)type; (void)lda; (void)dst; (void)panelStride;
}

void easel_amx_pack_b(int trans, long k, long n, const void *b, easel_element_type type, long ldb,
                      uint16_t *dst, long panelStride) {
    (void)trans; (void)k; (void)n; (void)b; (void)type; (void)ldb; (void)dst; (void)panelStride;
}

static uint16_t round_bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

void easel_round_to_bfloat16(const float *source, uint16_t *destination, long count) {
    for (long i = 0; i < count; i++) destination[i] = round_bf16(source[i]);
}

#endif
