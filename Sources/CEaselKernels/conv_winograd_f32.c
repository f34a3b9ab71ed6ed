// 3x3 stride-1 convolution in float32 by Winograd's F(2x2, 3x3): each 2 x 2 block of
// outputs ("tile") comes from a 4 x 4 patch of input through 16 products instead of 36.
//
// For a tile with input patch d (4 x 4, per channel) and a weight g (3 x 3, per output and
// input channel):  Y = Aᵀ [ Σ_c (G g Gᵀ) ⊙ (Bᵀ d B) ] A,  with
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 -1 -1].
// The sum over input channels is, for each of the 16 positions ξ of the 4 x 4 transform,
// a matrix product M_ξ [cout, tiles] = U_ξ [cout, cin] V_ξ [cin, tiles]: 2.25x fewer
// multiplications than the direct convolution, and only additions (and halvings) in the
// transforms, so the result is as accurate as the direct sum.
// - U (the transformed weights) is made once per call, already packed as the float32
//   product's A panels (14 output channels per panel, `easel_winograd_f32_weights`); or,
//   for calls with few tiles, panel by panel where it is multiplied, after V of all the
//   call's tiles (`easel_winograd_f32_panels`, `by_panels` in winograd.h).
// - V is made per block of 64 tiles, already packed as B panels (32 tiles per panel),
//   16 tiles per vector: a row of tiles reads its input rows with plain loads and splits
//   even and odd columns with permutes.
// - For each panel of output channels, the 16 products of the block run on the float32
//   product's register tile (`easel_sgemm_micro_kernel`) into a buffer that stays in
//   cache, and the output transform writes the 2 x 2 outputs (plus bias) at once.
// Takes images of even width and height, with a padding of one pixel on every side. Where
// the width is a multiple of 32 a row of tiles is a whole number of 16-tile vectors, read
// and written with plain loads and stores; narrower rows are gathered and scattered.
// F(4x4, 3x3) is in conv_winograd4_f32.c; what the two share is in winograd.h.

#include "winograd.h"

#include <string.h>

long easel_winograd_f32_weight_size(long cout, long cin) {
    return (cout + PANEL - 1) / PANEL * 16 * position_stride(cin);
}

void easel_winograd_f32_pad(long channels, long h, long w, const float *image, float *dst) {
    long wp = w + 2;
    for (long c = 0; c < channels; c++) {
        float *plane = dst + c * (h + 2) * wp;
        const float *src = image + c * h * w;
        memset(plane, 0, sizeof(float) * (size_t)wp);
        for (long y = 0; y < h; y++) {
            float *row = plane + (y + 1) * wp;
            row[0] = 0;
            memcpy(row + 1, src + y * w, sizeof(float) * (size_t)w);
            row[w + 1] = 0;
        }
        memset(plane + (h + 1) * wp, 0, sizeof(float) * (size_t)wp);
    }
}

#if defined(__x86_64__)

#define BLOCK_PANELS 2   // B panels (32 tiles each) per block

/// U = G g Gᵀ of one input channel's taps g (14 output channels in the lanes), its 16
/// positions xStride apart from dst.
AVX512 static inline void weights_channel(const __m512 g[9], float *dst, long xStride) {
    __m512 half = _mm512_set1_ps(0.5f);
    __mmask16 panel = first_lanes(PANEL);
    // G g: rows of g combined; then (G g) Gᵀ: the same on each row's columns.
    __m512 gg[4][3];
    for (int j = 0; j < 3; j++) {
        __m512 sum = _mm512_add_ps(g[j], g[6 + j]);
        gg[0][j] = g[j];
        gg[1][j] = _mm512_mul_ps(half, _mm512_add_ps(sum, g[3 + j]));
        gg[2][j] = _mm512_mul_ps(half, _mm512_sub_ps(sum, g[3 + j]));
        gg[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        __m512 sum = _mm512_add_ps(gg[i][0], gg[i][2]);
        _mm512_mask_storeu_ps(dst + (i * 4 + 0) * xStride, panel, gg[i][0]);
        _mm512_mask_storeu_ps(dst + (i * 4 + 1) * xStride, panel, _mm512_mul_ps(half, _mm512_add_ps(sum, gg[i][1])));
        _mm512_mask_storeu_ps(dst + (i * 4 + 2) * xStride, panel, _mm512_mul_ps(half, _mm512_sub_ps(sum, gg[i][1])));
        _mm512_mask_storeu_ps(dst + (i * 4 + 3) * xStride, panel, gg[i][2]);
    }
}

/// U for output-channel panels [panel0, panel1): 14 channels at a time in the lanes of a
/// vector (`panel_weights`), position x, input channel c at
/// u + (p * 16 + x) * position_stride(cin) + c * 14.
AVX512 void easel_winograd_f32_weights(long cout, long cin, easel_conv3x3_weights w, long panel0, long panel1, float *u) {
    long xStride = position_stride(cin);
    for (long p = panel0; p < panel1; p++) panel_weights(w, cout, cin, p, 0, cin, u + p * 16 * xStride, xStride, weights_channel);
}

/// V for tile panels [0, panels) of a block of blockPanels panels starting at tile t0 (tiles
/// before `end`): position x, panel j, channel c at v + ((x * blockPanels + j) * cin + c) * 32;
/// zero for tiles past the last.
AVX512 static void input_transform(const float *padded, long cin, long hp, long wp, Tiles g, long end,
                                   long t0, long panels, long blockPanels, float *v) {
    long imageStride = cin * hp * wp;
    __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (long c = 0; c < cin; c++) {
        const float *plane = padded + c * hp * wp;
        for (long j = 0; j < panels; j++) {
            for (long half = 0; half < 2; half++) {
                long t = t0 + j * 32 + half * 16;
                float *dst = v + (j * cin + c) * 32 + half * 16;
                long xStride = blockPanels * cin * 32;
                if (t >= end) {
                    for (int x = 0; x < 16; x++) _mm512_store_ps(dst + x * xStride, _mm512_setzero_ps());
                    continue;
                }
                // Tile (ty, tx) reads padded rows 2ty ... 2ty+3, columns 2tx ... 2tx+3.
                __m512 r[4][4];
                if (g.tw % 16 == 0) {
                    // The 16 tiles lie in one row: plain loads, even and odd columns split.
                    long local = t % g.perImage;
                    const float *base = plane + (t / g.perImage) * imageStride + 2 * (local / g.tw) * wp + 2 * (local % g.tw);
                    for (int i = 0; i < 4; i++) {
                        const float *row = base + i * wp;
                        __m512 a = _mm512_loadu_ps(row), b = _mm512_loadu_ps(row + 16);
                        __m512 a2 = _mm512_loadu_ps(row + 2), b2 = _mm512_loadu_ps(row + 18);
                        __m512 d0 = _mm512_permutex2var_ps(a, even, b), d1 = _mm512_permutex2var_ps(a, odd, b);
                        __m512 d2 = _mm512_permutex2var_ps(a2, even, b2), d3 = _mm512_permutex2var_ps(a2, odd, b2);
                        r[i][0] = _mm512_sub_ps(d0, d2);
                        r[i][1] = _mm512_add_ps(d1, d2);
                        r[i][2] = _mm512_sub_ps(d2, d1);
                        r[i][3] = _mm512_sub_ps(d1, d3);
                    }
                } else {
                    // Narrow images (a row of tiles shorter than a vector): gathered.
                    __mmask16 live;
                    __m512i offsets = tile_offsets(g, t, end, wp, imageStride, &live);
                    for (int i = 0; i < 4; i++) {
                        __m512 d[4];
                        for (int k = 0; k < 4; k++)
                            d[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, offsets, plane + i * wp + k, 4);
                        r[i][0] = _mm512_sub_ps(d[0], d[2]);
                        r[i][1] = _mm512_add_ps(d[1], d[2]);
                        r[i][2] = _mm512_sub_ps(d[2], d[1]);
                        r[i][3] = _mm512_sub_ps(d[1], d[3]);
                    }
                }
                for (int k = 0; k < 4; k++) {
                    _mm512_store_ps(dst + (0 * 4 + k) * xStride, _mm512_sub_ps(r[0][k], r[2][k]));
                    _mm512_store_ps(dst + (1 * 4 + k) * xStride, _mm512_add_ps(r[1][k], r[2][k]));
                    _mm512_store_ps(dst + (2 * 4 + k) * xStride, _mm512_sub_ps(r[2][k], r[1][k]));
                    _mm512_store_ps(dst + (3 * 4 + k) * xStride, _mm512_sub_ps(r[1][k], r[3][k]));
                }
            }
        }
    }
}

/// Outputs of channels co0 ... co0+rows for the block's tiles from M (position x, channel
/// row r, tile q of the block at m + (x * PANEL + r) * ldm + q), plus bias.
AVX512 static void output_transform(const float *m, long ldm, long rows, long co0, const float *bias,
                                    long cout, long h, long w, Tiles g, long end, long t0, long blockTiles,
                                    float *out) {
    long imageStride = cout * h * w;
    __m512i low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    __m512i high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (long r = 0; r < rows; r++) {
        __m512 b = _mm512_set1_ps(bias ? bias[co0 + r] : 0);
        float *plane = out + (co0 + r) * h * w;
        for (long q = 0; q < blockTiles && t0 + q < end; q += 16) {
            const float *mq = m + r * ldm + q;
            __m512 x[16];
            for (int k = 0; k < 16; k++) x[k] = _mm512_load_ps(mq + k * PANEL * ldm);
            __m512 s[4][2];
            for (int i = 0; i < 4; i++) {
                s[i][0] = _mm512_add_ps(_mm512_add_ps(x[i * 4], x[i * 4 + 1]), x[i * 4 + 2]);
                s[i][1] = _mm512_sub_ps(_mm512_sub_ps(x[i * 4 + 1], x[i * 4 + 2]), x[i * 4 + 3]);
            }
            for (int k = 0; k < 2; k++) {
                __m512 top = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[0][k], s[1][k]), s[2][k]), b);
                __m512 bottom = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[1][k], s[2][k]), s[3][k]), b);
                s[0][k] = top;
                s[1][k] = bottom;
            }
            long t = t0 + q;
            if (g.tw % 16 == 0) {
                // The 16 tiles lie in one row: two rows of 32 outputs, left and right interleaved.
                long local = t % g.perImage;
                float *row = plane + (t / g.perImage) * imageStride + 2 * (local / g.tw) * w + 2 * (local % g.tw);
                _mm512_storeu_ps(row, _mm512_permutex2var_ps(s[0][0], low, s[0][1]));
                _mm512_storeu_ps(row + 16, _mm512_permutex2var_ps(s[0][0], high, s[0][1]));
                _mm512_storeu_ps(row + w, _mm512_permutex2var_ps(s[1][0], low, s[1][1]));
                _mm512_storeu_ps(row + w + 16, _mm512_permutex2var_ps(s[1][0], high, s[1][1]));
            } else {
                __mmask16 live;
                __m512i offsets = tile_offsets(g, t, end, w, imageStride, &live);
                _mm512_mask_i32scatter_ps(plane, live, offsets, s[0][0], 4);
                _mm512_mask_i32scatter_ps(plane + 1, live, offsets, s[0][1], 4);
                _mm512_mask_i32scatter_ps(plane + w, live, offsets, s[1][0], 4);
                _mm512_mask_i32scatter_ps(plane + w + 1, live, offsets, s[1][1], 4);
            }
        }
    }
}

AVX512 void easel_winograd_f32(long cout, long cin, long h, long w, const float *padded, const float *u,
                               const float *bias, long tile0, long tileCount, long panel0, long panel1,
                               float *out) {
    Tiles g = {w / 2, (h / 2) * (w / 2), 2};
    long hp = h + 2, wp = w + 2;
    long blockTiles = BLOCK_PANELS * 32;
    size_t vCount = (size_t)16 * BLOCK_PANELS * cin * 32, mCount = (size_t)16 * PANEL * blockTiles;
    float *work = easel_workspace(2, sizeof(float) * (vCount + mCount));
    if (!work) easel_out_of_memory("a Winograd convolution's buffers");
    float *v = work, *m = work + vCount;
    long end = tile0 + tileCount;
    for (long t0 = tile0; t0 < end; t0 += blockTiles) {
        long inBlock = end - t0 < blockTiles ? end - t0 : blockTiles;
        long panels = (inBlock + 31) / 32;
        input_transform(padded, cin, hp, wp, g, end, t0, panels, BLOCK_PANELS, v);
        for (long p = panel0; p < panel1; p++) {
            for (long x = 0; x < 16; x++) {
                const float *ux = u + (p * 16 + x) * position_stride(cin);
                for (long j = 0; j < panels; j++) {
                    const float *vx = v + (x * BLOCK_PANELS + j) * cin * 32;
                    for (long k0 = 0; k0 < cin; k0 += SGEMM_KC) {
                        long kc = cin - k0 < SGEMM_KC ? cin - k0 : SGEMM_KC;
                        easel_sgemm_micro_kernel(kc, ux + k0 * PANEL, vx + k0 * 32, m + x * PANEL * blockTiles + j * 32,
                                                 blockTiles, PANEL, 32, 1, 0, k0 > 0, NULL, 0);
                    }
                }
            }
            long rows = panel_rows(cout, p);
            output_transform(m, blockTiles, rows, p * PANEL, bias, cout, h, w, g, end, t0, inBlock, out);
        }
    }
}


AVX512 void easel_winograd_f32_input(long cin, long h, long w, const float *padded, long tiles, long t0, float *v) {
    Tiles g = {w / 2, (h / 2) * (w / 2), 2};
    input_transform(padded, cin, h + 2, w + 2, g, tiles, t0, 1, 1, v);
}

AVX512 static void block_output2(const float *m, long rows, long co0, long t0, const void *context) {
    const output_context *o = context;
    output_transform(m, 32, rows, co0, o->bias, o->cout, o->h, o->w, o->g, o->end, t0, 32, o->out);
}

AVX512 void easel_winograd_f32_panels(long cout, long cin, long h, long w, easel_conv3x3_weights weights,
                                      const float *v, const float *bias, long tiles, long panel0, long panel1,
                                      float *out) {
    output_context o = {bias, cout, h, w, {w / 2, (h / 2) * (w / 2), 2}, tiles, out};
    by_panels(weights, cout, cin, 16, weights_channel, v, tiles, panel0, panel1, block_output2, &o);
}

#else

void easel_winograd_f32_weights(long cout, long cin, easel_conv3x3_weights w, long panel0, long panel1, float *u) {
    (void)cout; (void)cin; (void)w; (void)panel0; (void)panel1; (void)u;
}

void easel_winograd_f32(long cout, long cin, long h, long w, const float *padded, const float *u,
                        const float *bias, long tile0, long tileCount, long panel0, long panel1, float *out) {
    (void)cout; (void)cin; (void)h; (void)w; (void)padded; (void)u; (void)bias; (void)tile0; (void)tileCount;
    (void)panel0; (void)panel1; (void)out;
}

void easel_winograd_f32_input(long cin, long h, long w, const float *padded, long tiles, long t0, float *v) {
    (void)cin; (void)h; (void)w; (void)padded; (void)tiles; (void)t0; (void)v;
}

void easel_winograd_f32_panels(long cout, long cin, long h, long w, easel_conv3x3_weights weights,
                               const float *v, const float *bias, long tiles, long panel0, long panel1, float *out) {
    (void)cout; (void)cin; (void)h; (void)w; (void)weights; (void)v; (void)bias; (void)tiles; (void)panel0;
    (void)panel1; (void)out;
}

#endif
