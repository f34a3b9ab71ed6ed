// Stride-1 convolution on AMX tiles without a column matrix ("implicit GEMM").
//
// The image is converted once per call into bfloat16 "pair rows": pair row p holds input
// channels 2p and 2p+1 interleaved element by element, [q0c0 q0c1 q1c0 q1c1 ...], over the
// zero-padded plane laid out in rows of wp. In that layout a 16-pair x 16-pixel block is
// exactly the VNNI tile AMX multiplies, read straight from memory with the pair-row pitch
// as its stride; a kernel tap (i, j) is nothing but an offset of i*wp + j pixels. So the
// output block C[co, q] = sum over taps t and channels c of W_t[co, c] * X[c, q + offset_t]
// accumulates every tap in four tiles, with no packing of the image per tap and none of
// the weights per call (they come packed by easel_amx_pack_a, taps one after another along
// k). Channels are taken a group of 32-channel steps at a time over all the block's
// columns, so that the group's weights (every tap) are read from L1 by every column block;
// the partial sums go back to memory between groups (one group for a 1x1 convolution).

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "amx.h"
#include "lanes.h"
#include "workspace.h"

/// Bytes of pair rows a block of output columns may read: with one panel of weights
/// (32 x taps x cin bfloat16) they should stay in a core's L2 (2 MB on the CPUs with AMX).
#define BLOCK_BYTES (1L << 20)

/// Bytes of weights one pass over a block's columns reads: they should stay in L1 (48 KB),
/// beside the pair rows streaming through.
#define GROUP_BYTES (24L << 10)

AMX void easel_amx_pair_rows(const float *image, long channels, long h, long w,
                             long top, long left, long hp, long wp, long tail, uint16_t *dst) {
    long plane = hp * wp + tail;
    __m512i order = _mm512_loadu_si512(easel_amx_pair_order);
    for (long p = 0; p < channels / 2; p++) {
        const float *x0 = image + (2 * p) * h * w, *x1 = x0 + h * w;
        uint16_t *row = dst + p * 2 * plane;
        memset(row, 0, sizeof(uint16_t) * 2 * (size_t)(top * wp));
        for (long y = 0; y < h; y++) {
            uint16_t *d = row + 2 * ((top + y) * wp);
            memset(d, 0, sizeof(uint16_t) * 2 * (size_t)left);
            d += 2 * left;
            const float *a = x0 + y * w, *b = x1 + y * w;
            long q = 0;
            for (; q + 16 <= w; q += 16) {
                __m512i both = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(b + q), _mm512_loadu_ps(a + q));
                _mm512_storeu_si512(d + 2 * q, _mm512_permutexvar_epi16(order, both));
            }
            if (q < w) {
                __mmask16 mask = first_lanes(w - q);
                __m512i both = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mask, b + q), _mm512_maskz_loadu_ps(mask, a + q));
                _mm512_mask_storeu_epi32(d + 2 * q, mask, _mm512_permutexvar_epi16(order, both));
            }
            memset(d + 2 * w, 0, sizeof(uint16_t) * 2 * (size_t)(wp - left - w));
        }
        memset(row + 2 * ((top + h) * wp), 0, sizeof(uint16_t) * 2 * (size_t)((hp - top - h) * wp + tail));
    }
}

AMX void easel_conv_bf16_amx(long cout, long n, long cin, long taps, const long *offsets,
                             const uint16_t *weights, long panelStride,
                             const uint16_t *pairs, long pairPitch,
                             float *c, long ldc) {
    if (cout <= 0 || n <= 0) return;
    long steps = cin / 32;
    long stride = pairPitch * (long)sizeof(uint16_t);
    // Columns per block: as many as keep the block's pair rows (its columns plus the
    // taps' reach) within BLOCK_BYTES, so that every panel of output channels finds them
    // in L2.
    long reach = 0;
    for (long t = 0; t < taps; t++) reach = offsets[t] > reach ? offsets[t] : reach;
    long qb = (BLOCK_BYTES / (cin * (long)sizeof(uint16_t)) - reach) / 32 * 32;
    if (qb < 32) qb = 32;
    // Steps of input channels per pass over the columns: as many as keep their weights
    // (taps x 2 KB each) within GROUP_BYTES.
    long group = GROUP_BYTES / (taps * 2048);
    if (group < 1) group = 1;
    // Blocks that do not fill whole tiles (the last output channels or columns) accumulate
    // in a padded buffer and are copied out at the end.
    float *scratch = easel_workspace(2, sizeof(float) * 32 * (size_t)qb);
    if (!scratch) easel_out_of_memory("a convolution's partial blocks");
    easel_amx_configure_tiles();
    for (long q0 = 0; q0 < n; q0 += qb) {
        long qEnd = q0 + qb < n ? q0 + qb : n;
        long width = qEnd - q0, padded = (width + 31) / 32 * 32;
        for (long co = 0; co < cout; co += 32) {
            const uint16_t *panel = weights + (co / 32) * panelStride;
            long rows = cout - co < 32 ? cout - co : 32;
            int direct = rows == 32 && width == padded;
            float *acc = direct ? c + co * ldc + q0 : scratch;
            long ld = direct ? ldc : padded, accStride = ld * (long)sizeof(float);
            // A group of steps of 32 input channels at a time over every column of the block:
            // the group's weights for every tap (2 KB per tap and step, at most GROUP_BYTES)
            // stay in L1 for all the columns, and each column block's partial sums go back to
            // memory (L2) between groups.
            for (long s0 = 0; s0 < steps; s0 += group) {
                long s1 = s0 + group < steps ? s0 + group : steps;
                for (long q = 0; q < width; q += 32) {
                    float *out = acc + q;
                    if (s0 == 0) {
                        _tile_zero(0);
                        _tile_zero(1);
                        _tile_zero(2);
                        _tile_zero(3);
                    } else {
                        _tile_loadd(0, out, accStride);
                        _tile_loadd(1, out + 16, accStride);
                        _tile_loadd(2, out + 16 * ld, accStride);
                        _tile_loadd(3, out + 16 * ld + 16, accStride);
                    }
                    for (long s = s0; s < s1; s++) {
                        const uint16_t *rowsOfStep = pairs + s * 16 * pairPitch + 2 * (q0 + q);
                        for (long t = 0; t < taps; t++) {
                            const uint16_t *as = panel + (t * steps + s) * 1024;
                            const uint16_t *bs = rowsOfStep + 2 * offsets[t];
                            _tile_loadd(4, as, 64);
                            _tile_loadd(5, as + 512, 64);
                            _tile_loadd(6, bs, stride);
                            _tile_loadd(7, bs + 32, stride);
                            _tile_dpbf16ps(0, 4, 6);
                            _tile_dpbf16ps(1, 4, 7);
                            _tile_dpbf16ps(2, 5, 6);
                            _tile_dpbf16ps(3, 5, 7);
                        }
                    }
                    _tile_stored(0, out, accStride);
                    _tile_stored(1, out + 16, accStride);
                    _tile_stored(2, out + 16 * ld, accStride);
                    _tile_stored(3, out + 16 * ld + 16, accStride);
                }
            }
            if (!direct)
                for (long r = 0; r < rows; r++)
                    memcpy(c + (co + r) * ldc + q0, scratch + r * padded, sizeof(float) * (size_t)width);
        }
    }
    _tile_release();
}
#else

void easel_amx_pair_rows(const float *image, long channels, long h, long w,
                         long top, long left, long hp, long wp, long tail, uint16_t *dst) {
    (void)image; (void)channels; (void)h; (void)w; (void)top; (void)left; (void)hp; (void)wp; (void)tail; (void)dst;
}

void easel_conv_bf16_amx(long cout, long n, long cin, long taps, const long *offsets,
                         const uint16_t *weights, long panelStride,
                         const uint16_t *pairs, long pairPitch,
                         float *c, long ldc) {
    (void)cout; (void)n; (void)cin; (void)taps; (void)offsets; (void)weights; (void)panelStride;
    (void)pairs; (void)pairPitch; (void)c; (void)ldc;
}

#endif
