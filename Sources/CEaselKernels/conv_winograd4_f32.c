// 3x3 stride-1 convolution in float32 by Winograd's F(4x4, 3x3) (`easel_winograd4_f32`):
// 4 x 4 outputs from a 6 x 6 patch through 36 products, 4x fewer multiplications than the
// direct sum, with the points 0, ±1, ±2:
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//   G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1],
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// Its transforms scale by up to 8, so it is less exact than F(2x2, 3x3): about 3e-6 of the
// outputs' size against 2e-7 (a harness against double sums, 16 to 400 input channels),
// still far inside float32 parity with the reference. The same structure (and the same
// two orders, easel_winograd4_f32 and easel_winograd4_f32_panels), in blocks of 32
// tiles (V is 36/16 larger per tile), with U four times the weights; it reads the images
// unpadded, the padding's zeros coming from load masks. Rows of tiles that are whole vectors
// (widths a multiple of 64) are read with loads split four ways by permutes. The structure
// is F(2x2, 3x3)'s (conv_winograd_f32.c); what the two share is in winograd.h.

#include "winograd.h"

long easel_winograd4_f32_weight_size(long cout, long cin) {
    return (cout + PANEL - 1) / PANEL * POS4 * position_stride(cin);
}

#if defined(__x86_64__)

/// U = G g Gᵀ (6 x 6) of one input channel's taps g (14 output channels in the lanes), its 36
/// positions xStride apart from dst.
AVX512 static inline void weights_channel(const __m512 g[9], float *dst, long xStride) {
    __m512 quarter = _mm512_set1_ps(0.25f), sixth = _mm512_set1_ps(1.0f / 6), minusSixth = _mm512_set1_ps(-1.0f / 6),
           twelfth = _mm512_set1_ps(1.0f / 12), twentyFourth = _mm512_set1_ps(1.0f / 24);
    __mmask16 panel = first_lanes(PANEL);
    // G g: the rows of g combined, per column j; then (G g) Gᵀ: the same on each row.
    // quarterOuter is the shared part of G's rows 3 and 4: g0 / 24 + g2 / 6.
    __m512 gg[6][3];
    for (int j = 0; j < 3; j++) {
        __m512 outer = _mm512_add_ps(g[j], g[6 + j]), middle = g[3 + j];
        __m512 quarterOuter = _mm512_fmadd_ps(g[j], twentyFourth, _mm512_mul_ps(g[6 + j], sixth));
        gg[0][j] = _mm512_mul_ps(g[j], quarter);
        gg[1][j] = _mm512_mul_ps(_mm512_add_ps(outer, middle), minusSixth);
        gg[2][j] = _mm512_mul_ps(_mm512_sub_ps(outer, middle), minusSixth);
        gg[3][j] = _mm512_fmadd_ps(middle, twelfth, quarterOuter);
        gg[4][j] = _mm512_fnmadd_ps(middle, twelfth, quarterOuter);
        gg[5][j] = g[6 + j];
    }
    for (int i = 0; i < 6; i++) {
        __m512 outer = _mm512_add_ps(gg[i][0], gg[i][2]), middle = gg[i][1];
        __m512 quarterOuter = _mm512_fmadd_ps(gg[i][0], twentyFourth, _mm512_mul_ps(gg[i][2], sixth));
        _mm512_mask_storeu_ps(dst + (i * 6 + 0) * xStride, panel, _mm512_mul_ps(gg[i][0], quarter));
        _mm512_mask_storeu_ps(dst + (i * 6 + 1) * xStride, panel, _mm512_mul_ps(_mm512_add_ps(outer, middle), minusSixth));
        _mm512_mask_storeu_ps(dst + (i * 6 + 2) * xStride, panel, _mm512_mul_ps(_mm512_sub_ps(outer, middle), minusSixth));
        _mm512_mask_storeu_ps(dst + (i * 6 + 3) * xStride, panel, _mm512_fmadd_ps(middle, twelfth, quarterOuter));
        _mm512_mask_storeu_ps(dst + (i * 6 + 4) * xStride, panel, _mm512_fnmadd_ps(middle, twelfth, quarterOuter));
        _mm512_mask_storeu_ps(dst + (i * 6 + 5) * xStride, panel, gg[i][2]);
    }
}

/// U for output-channel panels [panel0, panel1), as easel_winograd_f32_weights does for
/// F(2x2, 3x3): position x, input channel c at u + (p * 36 + x) * position_stride(cin) + c * 14.
AVX512 void easel_winograd4_f32_weights(long cout, long cin, easel_conv3x3_weights w, long panel0, long panel1, float *u) {
    long xStride = position_stride(cin);
    for (long p = panel0; p < panel1; p++) panel_weights(w, cout, cin, p, 0, cin, u + p * POS4 * xStride, xStride, weights_channel);
}

/// Bᵀ d over six values: o0 = 4d0 - 5d2 + d4, o1 = -4d1 - 4d2 + d3 + d4, o2 = 4d1 - 4d2 - d3 + d4,
/// o3 = -2d1 - d2 + 2d3 + d4, o4 = 2d1 - d2 - 2d3 + d4, o5 = 4d1 - 5d3 + d5.
AVX512 static inline void bt6(const __m512 d[6], __m512 o[6]) {
    __m512 four = _mm512_set1_ps(4), two = _mm512_set1_ps(2);
    __m512 t0 = _mm512_fnmadd_ps(four, d[2], d[4]);        // d4 - 4 d2
    __m512 t1 = _mm512_fnmadd_ps(four, d[1], d[3]);        // d3 - 4 d1
    __m512 t2 = _mm512_sub_ps(d[4], d[2]);
    __m512 t3 = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));
    o[0] = _mm512_fmadd_ps(four, _mm512_sub_ps(d[0], d[2]), t2);
    o[1] = _mm512_add_ps(t0, t1);
    o[2] = _mm512_sub_ps(t0, t1);
    o[3] = _mm512_add_ps(t2, t3);
    o[4] = _mm512_sub_ps(t2, t3);
    o[5] = _mm512_fmadd_ps(four, _mm512_sub_ps(d[1], d[3]), _mm512_sub_ps(d[5], d[3]));
}

/// 16 floats of an unpadded row from column `col` (which may start before 0 or run past w):
/// zeros outside the row.
AVX512 static inline __m512 row_load(const float *row, long col, long w) {
    __mmask16 m = 0xffff;
    if (col < 0) m &= (__mmask16)(0xffffu << (-col));
    if (col + 16 > w) m &= first_lanes(w - col);
    return _mm512_maskz_loadu_ps(m, row + col);
}

/// One row of 16 tiles' 6 x 6 patches, input row y (0 ... 5 of the patch): the 16 tiles lie
/// in one image row from column col = 4 tx - 1, so their 66 columns are read with plain
/// (edge-masked) loads and split four ways with permutes; k = 4, 5 are k = 0, 1 four
/// columns on.
AVX512 static inline void row_of_tiles(const float *row, long col, long w, const __m512i pick[4], __m512 d[6]) {
    __m512 a[8];
    for (int q = 0; q < 4; q++) {
        a[q] = row_load(row, col + 16 * q, w);
        a[4 + q] = row_load(row, col + 4 + 16 * q, w);
    }
    for (int k = 0; k < 6; k++) {
        const __m512 *s = k < 4 ? a : a + 4;
        __m512 low = _mm512_permutex2var_ps(s[0], pick[k & 3], s[1]);
        __m512 high = _mm512_permutex2var_ps(s[2], pick[k & 3], s[3]);
        d[k] = _mm512_mask_blend_ps(0xff00, low, high);
    }
}

/// V for one panel of 32 tiles starting at t0 (tiles before `end`): position x, channel c at
/// v + (x * cin + c) * 32; zero for tiles past the last. Reads the image unpadded: the
/// padding's zeros come from masks.
AVX512 static void input_transform4(const float *image, long cin, long h, long w, Tiles g, long end, long t0,
                                    float *v) {
    long imageStride = cin * h * w, xStride = cin * 32;
    __m512i pick[4];   // lanes 0-7 and 8-15 alike: column 4 l + k of a 32-float pair
    for (int k = 0; k < 4; k++) {
        int index[16];
        for (int l = 0; l < 16; l++) index[l] = 4 * (l % 8) + k;
        pick[k] = _mm512_loadu_si512(index);
    }
    for (long half = 0; half < 2; half++) {
        long t = t0 + half * 16;
        if (t >= end) {
            for (long c = 0; c < cin; c++)
                for (int x = 0; x < POS4; x++) _mm512_store_ps(v + x * xStride + c * 32 + half * 16, _mm512_setzero_ps());
            continue;
        }
        // Where a row of tiles is whole vectors, the 16 tiles lie in one row: their first
        // image row and column. Else lane l is tile t + l, gathered, with masks for the
        // padding (and for lanes past `end`).
        int inRow = g.tw % 16 == 0;
        long local = t % g.perImage, ty = local / g.tw, col = 4 * (local % g.tw) - 1;
        const float *image0 = image + (t / g.perImage) * imageStride;
        __m512i offsets = _mm512_setzero_si512();
        __mmask16 valid[6][6];
        if (!inRow) {
            __mmask16 live = first_lanes(end - t);
            int base[16], top[16], left[16];
            for (int l = 0; l < 16; l++) {
                long i = t + l < end ? t + l : t, tile = i % g.perImage;
                top[l] = (int)(4 * (tile / g.tw) - 1);
                left[l] = (int)(4 * (tile % g.tw) - 1);
                base[l] = (int)((i / g.perImage) * imageStride + top[l] * w + left[l]);
            }
            offsets = _mm512_loadu_si512(base);
            __m512i y0 = _mm512_loadu_si512(top), x0 = _mm512_loadu_si512(left), zero = _mm512_setzero_si512();
            for (int i = 0; i < 6; i++) {
                __m512i y = _mm512_add_epi32(y0, _mm512_set1_epi32(i));
                __mmask16 rowOK = live & _mm512_cmpge_epi32_mask(y, zero) & _mm512_cmplt_epi32_mask(y, _mm512_set1_epi32((int)h));
                for (int k = 0; k < 6; k++) {
                    __m512i x = _mm512_add_epi32(x0, _mm512_set1_epi32(k));
                    valid[i][k] = rowOK & _mm512_cmpge_epi32_mask(x, zero) & _mm512_cmplt_epi32_mask(x, _mm512_set1_epi32((int)w));
                }
            }
        }
        for (long c = 0; c < cin; c++) {
            __m512 r[6][6];
            for (int i = 0; i < 6; i++) {
                __m512 d[6];
                long y = 4 * ty - 1 + i;
                if (!inRow) {
                    const float *plane = image + c * h * w;
                    for (int k = 0; k < 6; k++)
                        d[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid[i][k], offsets, plane + i * w + k, 4);
                } else if (y < 0 || y >= h) {
                    for (int k = 0; k < 6; k++) d[k] = _mm512_setzero_ps();
                } else {
                    row_of_tiles(image0 + (c * h + y) * w, col, w, pick, d);
                }
                bt6(d, r[i]);
            }
            float *dst = v + c * 32 + half * 16;
            for (int k = 0; k < 6; k++) {
                __m512 column[6], o[6];
                for (int i = 0; i < 6; i++) column[i] = r[i][k];
                bt6(column, o);
                for (int i = 0; i < 6; i++) _mm512_store_ps(dst + (i * 6 + k) * xStride, o[i]);
            }
        }
    }
}

/// Aᵀ m over six values: y0 = m0 + m1 + m2 + m3 + m4, y1 = m1 - m2 + 2 (m3 - m4),
/// y2 = m1 + m2 + 4 (m3 + m4), y3 = m1 - m2 + 8 (m3 - m4) + m5.
AVX512 static inline void at6(const __m512 m[6], __m512 y[4]) {
    __m512 a = _mm512_add_ps(m[1], m[2]), b = _mm512_sub_ps(m[1], m[2]);
    __m512 c = _mm512_add_ps(m[3], m[4]), d = _mm512_sub_ps(m[3], m[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), c);
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d, b);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), c, a);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d, b), m[5]);
}

/// Outputs of channels co0 ... co0+rows for a panel of 32 tiles from M (position x, channel row
/// r, tile q at m + (x * PANEL + r) * ldm + q), plus bias: 4 x 4 per tile, written as whole
/// image rows where a row of tiles is whole vectors, else scattered.
AVX512 static void output_transform4(const float *m, long ldm, long rows, long co0, const float *bias, long cout,
                                     long h, long w, Tiles g, long end, long t0, float *out) {
    long imageStride = cout * h * w;
    __m512i pairLow = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    __m512i pairHigh = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512i quadLow = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    __m512i quadHigh = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    for (long r = 0; r < rows; r++) {
        __m512 b = _mm512_set1_ps(bias ? bias[co0 + r] : 0);
        float *plane = out + (co0 + r) * h * w;
        for (long q = 0; q < 32 && t0 + q < end; q += 16) {
            const float *mq = m + r * ldm + q;
            __m512 s[6][4];
            for (int k = 0; k < 6; k++) {
                __m512 x[6];
                for (int i = 0; i < 6; i++) x[i] = _mm512_load_ps(mq + (i * 6 + k) * PANEL * ldm);
                __m512 y[4];
                at6(x, y);
                for (int i = 0; i < 4; i++) s[k][i] = y[i];   // s[column k][output row i]
            }
            __m512 o[4][4];   // o[row i][column j]
            for (int i = 0; i < 4; i++) {
                __m512 col[6], y[4];
                for (int k = 0; k < 6; k++) col[k] = s[k][i];
                at6(col, y);
                for (int j = 0; j < 4; j++) o[i][j] = _mm512_add_ps(y[j], b);
            }
            long t = t0 + q;
            if (g.tw % 16 == 0) {
                long local = t % g.perImage;
                float *row = plane + (t / g.perImage) * imageStride + 4 * (local / g.tw) * w + 4 * (local % g.tw);
                for (int i = 0; i < 4; i++) {
                    __m512 p01l = _mm512_permutex2var_ps(o[i][0], pairLow, o[i][1]);
                    __m512 p01h = _mm512_permutex2var_ps(o[i][0], pairHigh, o[i][1]);
                    __m512 p23l = _mm512_permutex2var_ps(o[i][2], pairLow, o[i][3]);
                    __m512 p23h = _mm512_permutex2var_ps(o[i][2], pairHigh, o[i][3]);
                    float *dst = row + i * w;
                    _mm512_storeu_ps(dst, _mm512_permutex2var_ps(p01l, quadLow, p23l));
                    _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(p01l, quadHigh, p23l));
                    _mm512_storeu_ps(dst + 32, _mm512_permutex2var_ps(p01h, quadLow, p23h));
                    _mm512_storeu_ps(dst + 48, _mm512_permutex2var_ps(p01h, quadHigh, p23h));
                }
            } else {
                __mmask16 live;
                __m512i offsets = tile_offsets(g, t, end, w, imageStride, &live);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) _mm512_mask_i32scatter_ps(plane + i * w + j, live, offsets, o[i][j], 4);
            }
        }
    }
}

AVX512 void easel_winograd4_f32(long cout, long cin, long h, long w, const float *image, const float *u,
                                const float *bias, long tile0, long tileCount, long panel0, long panel1, float *out) {
    Tiles g = {w / 4, (h / 4) * (w / 4), 4};
    size_t vCount = (size_t)POS4 * cin * 32, mCount = (size_t)POS4 * PANEL * 32;
    float *work = easel_workspace(2, sizeof(float) * (vCount + mCount));
    if (!work) easel_out_of_memory("a Winograd convolution's buffers");
    float *v = work, *m = work + vCount;
    long end = tile0 + tileCount;
    for (long t0 = tile0; t0 < end; t0 += 32) {
        input_transform4(image, cin, h, w, g, end, t0, v);
        for (long p = panel0; p < panel1; p++) {
            for (long x = 0; x < POS4; x++) {
                const float *ux = u + (p * POS4 + x) * position_stride(cin);
                const float *vx = v + x * cin * 32;
                for (long k0 = 0; k0 < cin; k0 += SGEMM_KC) {
                    long kc = cin - k0 < SGEMM_KC ? cin - k0 : SGEMM_KC;
                    easel_sgemm_micro_kernel(kc, ux + k0 * PANEL, vx + k0 * 32, m + x * PANEL * 32, 32, PANEL, 32, 1, 0, k0 > 0, NULL, 0);
                }
            }
            long rows = panel_rows(cout, p);
            output_transform4(m, 32, rows, p * PANEL, bias, cout, h, w, g, end, t0, out);
        }
    }
}

AVX512 void easel_winograd4_f32_input(long cin, long h, long w, const float *image, long tiles, long t0, float *v) {
    Tiles g = {w / 4, (h / 4) * (w / 4), 4};
    input_transform4(image, cin, h, w, g, tiles, t0, v);
}

AVX512 static void block_output4(const float *m, long rows, long co0, long t0, const void *context) {
    const output_context *o = context;
    output_transform4(m, 32, rows, co0, o->bias, o->cout, o->h, o->w, o->g, o->end, t0, o->out);
}

AVX512 void easel_winograd4_f32_panels(long cout, long cin, long h, long w, easel_conv3x3_weights weights,
                                       const float *v, const float *bias, long tiles, long panel0, long panel1,
                                       float *out) {
    output_context o = {bias, cout, h, w, {w / 4, (h / 4) * (w / 4), 4}, tiles, out};
    by_panels(weights, cout, cin, POS4, weights_channel, v, tiles, panel0, panel1, block_output4, &o);
}

#else

void easel_winograd4_f32_weights(long cout, long cin, easel_conv3x3_weights w, long panel0, long panel1, float *u) {
    (void)cout; (void)cin; (void)w; (void)panel0; (void)panel1; (void)u;
}

void easel_winograd4_f32(long cout, long cin, long h, long w, const float *image, const float *u,
                         const float *bias, long tile0, long tileCount, long panel0, long panel1, float *out) {
    (void)cout; (void)cin; (void)h; (void)w; (void)image; (void)u; (void)bias; (void)tile0; (void)tileCount;
    (void)panel0; (void)panel1; (void)out;
}

void easel_winograd4_f32_input(long cin, long h, long w, const float *image, long tiles, long t0, float *v) {
    (void)cin; (void)h; (void)w; (void)image; (void)tiles; (void)t0; (void)v;
}

void easel_winograd4_f32_panels(long cout, long cin, long h, long w, easel_conv3x3_weights weights,
                                const float *v, const float *bias, long tiles, long panel0, long panel1, float *out) {
    (void)cout; (void)cin; (void)h; (void)w; (void)weights; (void)v; (void)bias; (void)tiles; (void)panel0;
    (void)panel1; (void)out;
}

#endif
