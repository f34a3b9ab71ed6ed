// What the two Winograd convolutions share (conv_winograd_f32.c, conv_winograd4_f32.c):
// the panels of transformed weights, the reading of a panel's 3x3 taps, the tiles'
// geometry, and the products panel by panel with the weights transformed in cache
// (`by_panels`). Private to the kernels.

#ifndef EASEL_WINOGRAD_H
#define EASEL_WINOGRAD_H

#include "EaselKernels.h"

#define PANEL 14   // output channels per panel of U (SGEMM_MR)
#define POS4 36    // positions of F(4x4, 3x3)'s 6 x 6 transform

/// Floats from one position of a panel's transformed weights (cin channels of PANEL) to the
/// next: 16 more than the channels need, so that a channel's positions, which the weight
/// transforms write together, fall in different cache sets (cin * PANEL floats apart they
/// would share a few: cin * 56 bytes is a multiple of 1 KB for cin a multiple of 128).
static inline long position_stride(long cin) { return cin * PANEL + 16; }

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes.h"
#include "sgemm.h"
#include "transpose.h"
#include "workspace.h"

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

/// Output channels in panel p (PANEL, fewer in the last).
static inline long panel_rows(long cout, long p) { return cout - p * PANEL < PANEL ? cout - p * PANEL : PANEL; }

/// The 9 taps of input channel c for the output channels of panel p, from float32 weights
/// [cout, cin, 3, 3], one vector per tap with a channel in each of its first 14 lanes (zero
/// past cout), gathered (one output channel cin * 9 floats from the next): for the channels
/// past the last whole 16 (`panel_taps16_f32`).
AVX512 static inline void panel_taps_f32(const float *w, long cout, long cin, long p, long c, __m512 g[9]) {
    __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __mmask16 live = first_lanes(panel_rows(cout, p));
    __m512i stride = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)(cin * 9)));
    const float *base = w + (p * PANEL * cin + c) * 9;
    for (int k = 0; k < 9; k++) g[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, stride, base + k, 4);
}

/// The taps of 16 input channels c0 ... c0+15 for the output channels of panel p, from
/// float32 weights [cout, cin, 3, 3]: g[c * 9 + k] is tap k of channel c0 + c, a channel in
/// each of the first 14 lanes (zero past cout), as `panel_taps_f32` gives them one channel at
/// a time. The panel's rows hold those 16 channels' 144 taps one after another, so they are
/// loaded as rows and transposed in registers (nine 16 x 16 blocks) instead of gathered.
AVX512 static inline void panel_taps16_f32(const float *w, long cout, long cin, long p, long c0, __m512 g[144]) {
    long rows = panel_rows(cout, p);
    const float *base = w + (p * PANEL * cin + c0) * 9;
    for (int j = 0; j < 9; j++) transpose16(base + 16 * j, cin * 9, rows, g + 16 * j);
}

/// The taps of 32 input channels c0 ... c0+31 (c0 a multiple of 32) for the output channels
/// of panel p, from bfloat16 weights packed for the bfloat16 products (cin a multiple of 32,
/// as such packing needs): g[c * 9 + k] as `panel_taps16_f32` gives them. Tap k of channel
/// c is element kk = k * cin + c of its output channel's row, in step kk / 32 of the row's
/// panel (32 output channels, panelStride apart), half (16 rows), row, element kk % 32: an
/// output channel's 32 channels of one tap are one 64-byte row, loaded whole, widened
/// exactly (bfloat16 is a float's upper half) and transposed in registers.
AVX512 static inline void panel_taps32_packed(easel_conv3x3_weights w, long cout, long cin, long p, long c0, __m512 g[288]) {
    long rows = panel_rows(cout, p);
    for (long k = 0; k < 9; k++) {
        __m512 low[16], high[16];
        long step = (k * cin + c0) / 32;
        for (long i = 0; i < 16; i++) {
            if (i >= rows) {
                low[i] = high[i] = _mm512_setzero_ps();
                continue;
            }
            long co = p * PANEL + i;
            __m512i pairs = _mm512_loadu_si512(w.packed + (co / 32) * w.panelStride + step * 1024 + ((co / 16) % 2) * 512 + (co % 16) * 32);
            low[i] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(pairs)), 16));
            high[i] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(pairs, 1)), 16));
        }
        transpose16_registers(low);
        transpose16_registers(high);
        for (int q = 0; q < 16; q++) {
            g[q * 9 + k] = low[q];
            g[(16 + q) * 9 + k] = high[q];
        }
    }
}

/// A transform of one input channel's taps g (14 output channels in the lanes) into its
/// positions, xStride apart from dst.
typedef void (*weights_channel_transform)(const __m512 g[9], float *dst, long xStride);

/// `transform` of input channels [c0, c1) of panel p into panel (channel c at panel +
/// (c - c0) * 14), the taps read as rows: 32 channels at a time from packed bfloat16
/// weights (whose input channels are a multiple of 32, LayerWeight; c0 and c1 then are
/// too), 16 at a time from float32 ones and the rest one by one.
AVX512 static inline __attribute__((always_inline)) void
panel_weights(easel_conv3x3_weights w, long cout, long cin, long p, long c0, long c1, float *panel, long xStride,
              weights_channel_transform transform) {
    if (w.packed) {
        __m512 taps[288];
        for (long c = c0; c < c1; c += 32) {
            panel_taps32_packed(w, cout, cin, p, c, taps);
            for (long i = 0; i < 32; i++) transform(taps + i * 9, panel + (c - c0 + i) * PANEL, xStride);
        }
        return;
    }
    __m512 taps[144];
    long c = c0;
    for (; c + 16 <= c1; c += 16) {
        panel_taps16_f32(w.f32, cout, cin, p, c, taps);
        for (long i = 0; i < 16; i++) transform(taps + i * 9, panel + (c - c0 + i) * PANEL, xStride);
    }
    for (; c < c1; c++) {
        panel_taps_f32(w.f32, cout, cin, p, c, taps);
        transform(taps, panel + (c - c0) * PANEL, xStride);
    }
}

/// The geometry of a call's tiles: images one after another, tw tiles per row, perImage
/// per image.
typedef struct {
    long tw, perImage;
    long size;   // outputs per tile side: 2 or 4
} Tiles;

/// Offsets of tiles t ... t+15 (those before `end`, `live`) from the top left of the first
/// image: image * imageStride + size (ty * rowStride + tx).
AVX512 static inline __m512i tile_offsets(Tiles g, long t, long end, long rowStride, long imageStride,
                                          __mmask16 *live) {
    int lanes[16];
    *live = first_lanes(end - t);
    for (int l = 0; l < 16; l++) {
        long i = t + l, local = i % g.perImage;
        lanes[l] = (int)((i / g.perImage) * imageStride + g.size * ((local / g.tw) * rowStride + local % g.tw));
    }
    return _mm512_loadu_si512(lanes);
}

/// The output transform of one block of 32 tiles from its M (position x, channel row r, tile
/// q at m + (x * PANEL + r) * 32 + q): `rows` output channels from co0, tiles from t0.
typedef void (*block_output)(const float *m, long rows, long co0, long t0, const void *context);

/// Floats of `by_panels`' buffer: one panel's transformed weights for SGEMM_KC input
/// channels, and M for `blocks` blocks of 32 tiles.
static inline size_t by_panels_floats(int positions, long blocks) {
    return (size_t)positions * position_stride(SGEMM_KC) + (size_t)blocks * positions * PANEL * 32;
}

/// The products and output transforms of output-channel panels [panel0, panel1) for a
/// call's `tiles` tiles, whose V is made (blocks of 32 tiles, block b's position x,
/// channel c at v + ((b * positions + x) * cin + c) * 32), the transformed weights made
/// here, one panel and SGEMM_KC input channels at a time, into a buffer that stays in L2.
/// What it saves, against transforming all the weights before the products: writing them
/// out (four times the weights for F(4x4, 3x3)) and reading them back from memory, which
/// is most of a call's time where there are few tiles. Each panel's weights are
/// transformed once, so the pieces of a call split its panels. The sums are those of the
/// transform-first kernels, in the same order.
AVX512 static inline __attribute__((always_inline)) void
by_panels(easel_conv3x3_weights w, long cout, long cin, int positions, weights_channel_transform transform,
          const float *v, long tiles, long panel0, long panel1, block_output output, const void *context) {
    long blocks = (tiles + 31) / 32;
    float *u = easel_workspace(2, sizeof(float) * by_panels_floats(positions, blocks));
    if (!u) easel_out_of_memory("a Winograd convolution's buffers");
    float *m = u + (size_t)positions * position_stride(SGEMM_KC);
    for (long p = panel0; p < panel1; p++) {
        for (long k0 = 0; k0 < cin; k0 += SGEMM_KC) {
            long kc = cin - k0 < SGEMM_KC ? cin - k0 : SGEMM_KC;
            long xStride = position_stride(kc);
            panel_weights(w, cout, cin, p, k0, k0 + kc, u, xStride, transform);
            for (long b = 0; b < blocks; b++) {
                const float *vb = v + (b * positions * cin + k0) * 32;
                float *mb = m + b * positions * PANEL * 32;
                long columns = tiles - b * 32 <= 16 ? 16 : 32;   // a half-empty block's empty half is skipped
                for (int x = 0; x < positions; x++)
                    easel_sgemm_micro_kernel(kc, u + x * xStride, vb + x * cin * 32, mb + x * PANEL * 32, 32, PANEL,
                                             columns, 1, 0, k0 > 0, NULL, 0);
            }
        }
        for (long b = 0; b < blocks; b++)
            output(m + b * positions * PANEL * 32, panel_rows(cout, p), p * PANEL, b * 32, context);
    }
}

/// What a block's output transform needs besides M.
typedef struct {
    const float *bias;
    long cout, h, w;
    Tiles g;
    long end;
    float *out;
} output_context;

#endif

#endif
