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
/// AVX-512 BF16 dot products (vdpbf16ps) multiply faster than float32 FMA does, so a
/// bfloat16 product without AMX pays to use them (measured once, at detection).
#define EASEL_CPU_BF16_DOT 8u

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
///
/// `bias` (or NULL; only with beta == 0) is added as C is written: n floats, one per column,
/// or with `biasPerRow` m floats, one per row (a convolution's output channels). The sums of
/// C filled with the bias and multiplied with beta 1, without a pass that writes C first and
/// the product reading it back (a layer's bias: `Tensor.linear`, `conv2d`).
///
/// `sharedA` (`sharedB`), or NULL: op(A)'s rows (op(B)'s columns) 0 ... m-1 (n-1) of this call
/// packed already by easel_sgemm_pack, for products cut into panels that all read the whole
/// operand; then `a` (`b`) is not read. The same sums: packing copies values, the blocks stay.
void easel_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha,
                        const float *a, long lda, const float *sharedA,
                        const float *b, long ldb, const float *sharedB,
                        float beta, float *c, long ldc, const float *bias, int biasPerRow);

/// The register tile of easel_sgemm_avx512: rows of op(A) and columns of op(B) per panel.
enum { EASEL_SGEMM_ROWS = 14, EASEL_SGEMM_COLUMNS = 32 };

/// Floats easel_sgemm_pack fills for `outer` rows of op(A) (`asA`) or columns of op(B),
/// each over all k steps.
long easel_sgemm_packed_floats(int asA, long outer, long k);

/// Packs rows [outer0, outer0+count) of op(A) (`asA`; outer0 a multiple of
/// EASEL_SGEMM_ROWS), or columns of op(B) (outer0 a multiple of EASEL_SGEMM_COLUMNS), over
/// all k steps, into their place in `dst` (easel_sgemm_packed_floats of the whole operand),
/// as easel_sgemm_avx512 packs them block by block (its `sharedA`, `sharedB`). `src` is A
/// (B) as easel_sgemm_avx512 takes it, with `trans` and leading dimension `ld`. Threads may
/// pack disjoint ranges at once.
void easel_sgemm_pack(int asA, int trans, long outer0, long count, long k,
                      const float *src, long ld, float *dst);

/// The same product with bfloat16 multiplication and float32 accumulation on AMX tiles:
/// each operand is float32 (rounded to bfloat16, nearest-even) or bfloat16. Needs
/// EASEL_CPU_AMX_BF16.
void easel_gemm_bf16_amx(int transA, int transB, long m, long n, long k, float alpha,
                         const void *a, easel_element_type aType, long lda,
                         const void *b, easel_element_type bType, long ldb,
                         float beta, float *c, long ldc);

/// One operand of an AMX product: a row-major matrix of float32 or bfloat16 elements (read
/// transposed when `trans`), or one packed by `easel_amx_pack_a` / `easel_amx_pack_b`.
typedef struct {
    /// The first element, or the first panel of a packed operand.
    const void *base;
    /// The element type of a row-major operand (a packed one is bfloat16).
    easel_element_type type;
    /// Row stride in elements; for a packed operand, elements from one 32-wide panel to the next.
    long ld;
    int trans;
    int packed;
} easel_operand;

/// `easel_gemm_bf16_amx` with operands that may be packed already (weights packed once at
/// load). A packed operand covers all of k, so the sums are the same as with the operand
/// packed per call. `bias` and `biasPerRow` as for easel_sgemm_avx512. Needs
/// EASEL_CPU_AMX_BF16.
void easel_gemm_bf16_amx_operands(long m, long n, long k, float alpha, easel_operand a, easel_operand b,
                                  float beta, float *c, long ldc, const float *bias, int biasPerRow);

/// The same product with AVX-512 BF16 dot products (vdpbf16ps) instead of AMX tiles, on the
/// same packing (so a weight packed once at load serves either). Needs
/// EASEL_CPU_AVX512_BF16; the sums are the same up to their order.
void easel_gemm_bf16_dot_operands(long m, long n, long k, float alpha, easel_operand a, easel_operand b,
                                  float beta, float *c, long ldc, const float *bias, int biasPerRow);

/// Elements of a packed operand with `outer` rows (A) or columns (B) and inner extent k:
/// both rounded up to a multiple of 32.
long easel_amx_packed_size(long outer, long k);

/// Packs op(A) [m, k] for AMX products: panel r (rows 32r..32r+31) at dst + r*panelStride,
/// k padded with zeros to a multiple of 32 (kp), panelStride >= 32*kp. A layer's weights
/// are packed once, several matrices may share panels (a convolution's taps one after
/// another along k, each at dst + tap*32*kp). Needs EASEL_CPU_AVX512_BF16 (which every CPU
/// with AMX has): the packing is the same for the AMX and the dot-product kernels.
void easel_amx_pack_a(int trans, long m, long k, const void *a, easel_element_type type, long lda,
                      uint16_t *dst, long panelStride);

/// Packs op(B) [k, n] likewise, in panels of 32 columns.
void easel_amx_pack_b(int trans, long k, long n, const void *b, easel_element_type type, long ldb,
                      uint16_t *dst, long panelStride);

/// Writes `channels` (even) float32 planes [h, w] as bfloat16 "pair rows" for
/// `easel_conv_bf16_amx`: pair row p holds channels 2p and 2p+1 interleaved element by
/// element over the zero-padded plane [hp, wp] (image at row `top`, column `left`)
/// followed by `tail` zero pixels; row p starts at dst + p * 2 * (hp*wp + tail).
void easel_amx_pair_rows(const float *image, long channels, long h, long w,
                         long top, long left, long hp, long wp, long tail, uint16_t *dst);

/// Stride-1 convolution on AMX tiles: C[co, q] = sum over taps t and channels c of
/// W_t[co, c] * X[c, q + offsets[t]] for co < cout, q < n. W is packed by easel_amx_pack_a
/// with the taps one after another along k (cin each; cin a multiple of 32); X is in pair
/// rows (`easel_amx_pair_rows`, pairPitch elements from one pair row to the next) and must
/// be readable for q + offset up to n rounded up to 32. C is overwritten.
void easel_conv_bf16_amx(long cout, long n, long cin, long taps, const long *offsets,
                         const uint16_t *weights, long panelStride,
                         const uint16_t *pairs, long pairPitch,
                         float *c, long ldc);

/// Attention of `rows` queries (float32, row stride ldq, d columns) over nk keys, fused on
/// AMX: out[r, :dv] = softmax_k(scale * q_r . k_k) v_k, with both products in bfloat16 and
/// float32 sums; scale > 0. Keys come packed as `easel_amx_pack_a(0, nk, d, k, ...)` packs
/// them (panel stride keyStride), values transposed, as `easel_amx_pack_a(1, dv, nk, v, ...)`
/// packs vᵀ (panel stride valueStride). With causalStart >= 0, row r sees keys 0 ...
/// causalStart + r only. Out (row stride ldOut) is overwritten. Needs EASEL_CPU_AMX_BF16.
void easel_attention_bf16_amx(long rows, long nk, long d, long dv, float scale,
                              const float *q, long ldq,
                              const uint16_t *keys, long keyStride,
                              const uint16_t *values, long valueStride,
                              long causalStart, float *out, long ldOut);

/// easel_attention_bf16_amx with AVX-512 BF16 dot products instead of AMX tiles, on the
/// same packed keys and values, for a CPU without AMX. Needs EASEL_CPU_AVX512_BF16.
void easel_attention_bf16_dot(long rows, long nk, long d, long dv, float scale,
                              const float *q, long ldq,
                              const uint16_t *keys, long keyStride,
                              const uint16_t *values, long valueStride,
                              long causalStart, float *out, long ldOut);

/// Floats of one head's keys and values packed by easel_attention_f32_pack.
long easel_attention_f32_packed_size(long nk, long d, long dv);

/// One head's keys ([nk, d], row stride ldk) and values ([nk, dv], row stride ldv) packed
/// for easel_attention_f32: the keys' rows followed by zero keys up to a multiple of 8, then
/// the values' rows, each padded with zeros to dv rounded up to 8. Plain C, any CPU.
void easel_attention_f32_pack(long nk, long d, long dv, const float *k, long ldk, const float *v, long ldv,
                              float *dst);

/// Attention of `rows` queries (row stride ldq, d columns) over nk keys in float32, fused:
/// out[r, :dv] = softmax_k(scale * q_r . k_k) v_k; scale > 0. Keys and values come packed
/// by easel_attention_f32_pack. With causalStart >= 0, row r sees keys 0 ... causalStart + r
/// only. Out (row stride ldOut) is overwritten. Needs EASEL_CPU_AVX512.
void easel_attention_f32(long rows, long nk, long d, long dv, float scale, const float *q, long ldq,
                         const float *packed, long causalStart, float *out, long ldOut);

/// Floats of 3x3 weights transformed for easel_winograd_f32 (16 positions, panels of 14
/// output channels).
long easel_winograd_f32_weight_size(long cout, long cin);

/// 3x3 weights as the Winograd weight transforms read them: float32 [cout, cin, 3, 3] (`f32`,
/// `packed` NULL), or bfloat16 as a loaded bfloat16 model's layers hold them, packed by
/// easel_amx_pack_a with the taps one after another along k (`packed`, panelStride elements
/// per 32 output channels, cin a multiple of 32); the transforms widen those exactly.
typedef struct {
    const float *f32;
    const uint16_t *packed;
    long panelStride;
} easel_conv3x3_weights;

/// Transforms the 3x3 weights w of output-channel panels [panel0, panel1) (14 channels each)
/// into u, packed for easel_winograd_f32. Needs EASEL_CPU_AVX512.
void easel_winograd_f32_weights(long cout, long cin, easel_conv3x3_weights w, long panel0, long panel1, float *u);

/// Copies `channels` planes [h, w] into dst with one pixel of zeros on every side
/// ([channels, h + 2, w + 2]), as easel_winograd_f32 reads its input. Plain C, any CPU.
void easel_winograd_f32_pad(long channels, long h, long w, const float *image, float *dst);

/// 3x3 convolution, stride 1, padding 1, by Winograd's F(2x2, 3x3), for the 2x2 output
/// tiles [tile0, tile0 + tileCount) (row-major within an image, w/2 per row, the images
/// one after another) and the output channels of panels [panel0, panel1) (14 channels
/// each): out [images, cout, h, w] gets those outputs plus bias (nil: none). The images
/// come padded (easel_winograd_f32_pad), the weights transformed
/// (easel_winograd_f32_weights). Needs h and w even, image offsets below 2^31 elements, and
/// EASEL_CPU_AVX512.
void easel_winograd_f32(long cout, long cin, long h, long w, const float *padded, const float *u,
                        const float *bias, long tile0, long tileCount, long panel0, long panel1, float *out);

/// V of easel_winograd_f32_panels for the block of 32 tiles from t0 (a multiple of 32) of a
/// call's `tiles` tiles (images one after another, as easel_winograd_f32 numbers them; zero
/// past the last): 16 positions x cin x 32 floats at v. The images come padded
/// (easel_winograd_f32_pad). Needs EASEL_CPU_AVX512.
void easel_winograd_f32_input(long cin, long h, long w, const float *padded, long tiles, long t0, float *v);

/// easel_winograd_f32 for all of a call's `tiles` tiles and the output channels of panels
/// [panel0, panel1), from their V (easel_winograd_f32_input, one block of 32 tiles after
/// another) and the untransformed weights: each panel's transformed weights are made here
/// and stay in cache, rather than made for the whole call first and read back from memory.
/// The same outputs, bit for bit. For calls with few tiles. Needs EASEL_CPU_AVX512.
void easel_winograd_f32_panels(long cout, long cin, long h, long w, easel_conv3x3_weights weights,
                               const float *v, const float *bias, long tiles, long panel0, long panel1, float *out);

/// Floats of 3x3 weights transformed for easel_winograd4_f32 (36 positions, panels of 14
/// output channels): four times the weights.
long easel_winograd4_f32_weight_size(long cout, long cin);

/// easel_winograd_f32_weights for F(4x4, 3x3): u packed for easel_winograd4_f32.
void easel_winograd4_f32_weights(long cout, long cin, easel_conv3x3_weights w, long panel0, long panel1, float *u);

/// 3x3 convolution, stride 1, padding 1, by Winograd's F(4x4, 3x3): as easel_winograd_f32,
/// with 4x4 output tiles (w/4 per row) and the images unpadded ([images, cin, h, w]). Needs
/// h and w multiples of 4, tile0 a multiple of 32, tile0 + tileCount a multiple of 16 or
/// the last tile, image offsets below 2^31 elements, and EASEL_CPU_AVX512.
void easel_winograd4_f32(long cout, long cin, long h, long w, const float *image, const float *u,
                         const float *bias, long tile0, long tileCount, long panel0, long panel1, float *out);

/// easel_winograd_f32_input for F(4x4, 3x3): 36 positions x cin x 32 floats, from the images
/// unpadded. Needs EASEL_CPU_AVX512.
void easel_winograd4_f32_input(long cin, long h, long w, const float *image, long tiles, long t0, float *v);

/// easel_winograd_f32_panels for F(4x4, 3x3) (easel_winograd4_f32's outputs, bit for bit).
/// Needs EASEL_CPU_AVX512.
void easel_winograd4_f32_panels(long cout, long cin, long h, long w, easel_conv3x3_weights weights,
                                const float *v, const float *bias, long tiles, long panel0, long panel1, float *out);

/// C = beta * C for an m x n block (0 when beta is 0, never reading C): what a product
/// with nothing to multiply (k or alpha 0) leaves. Plain C, any CPU.
void easel_scale_block(long m, long n, float beta, float *c, long ldc);

/// C[i, j] += bias[j] (bias[i] when perRow) for an m x n block. Plain C, any CPU.
void easel_add_bias(long m, long n, const float *bias, int perRow, float *c, long ldc);

/// C[i, j] = bias[j] (bias[i] when perRow) for an m x n block. Plain C, any CPU.
void easel_fill_bias(long m, long n, const float *bias, int perRow, float *c, long ldc);

/// dst[i] = hidden[i] * gelu(gate[i]) for i < n, GELU exact (erf): the bits of EaselTensor's
/// Swift vector version, in AVX-512 (GEGLU's gating). Needs EASEL_CPU_AVX512.
void easel_geglu_erf(const float *hidden, const float *gate, float *dst, long n);

/// dst[r][c] = src[c][r] for rows [row0, row1) of dst ([rows, cols]; src is [cols, rows]).
/// AVX-512 where the build targets x86-64 (callers check EASEL_CPU_AVX512), plain C elsewhere.
void easel_transpose(const float *src, float *dst, long rows, long cols, long row0, long row1);

/// dst[i] = y * sigmoid(y) (silu) or y, y = src[i] * scale + shift, for i < n: group norm's
/// pass, with the bits of EaselTensor's Swift vectors. Needs EASEL_CPU_AVX512.
void easel_affine_silu(const float *src, float *dst, long n, float scale, float shift, int silu);

/// PyTorch's vectorised Box–Muller (`NormalFill16` for AVX2/AVX-512) over `blocks`
/// consecutive blocks of 16 uniforms in [0, 1), in place: lane j of a block takes
/// u1 = 1 - data[j], u2 = data[j + 8] and writes r cos(2 pi u2), r sin(2 pi u2), with
/// r = sqrt(-2 log u1) and the Cephes float log and sincos, bit for bit as torch.randn.
/// Needs AVX2 and FMA (any CPU with EASEL_CPU_AVX512 has them).
void easel_normal_fill16(float *data, long blocks);

/// Rounds `count` float32 values to bfloat16 (nearest, ties to even; NaN stays NaN).
void easel_round_to_bfloat16(const float *source, uint16_t *destination, long count);

/// Widens `count` little-endian binary16 values at `source` (any alignment) to float32,
/// exactly, bit for bit as ElementConversion.float32Bits(fromFloat16:) (NaN payloads kept);
/// with AVX-512 where the CPU has it.
void easel_widen_float16(const void *source, float *destination, long count);

/// Page-aligned memory of its own mapping, `bytes` a multiple of the page size (BufferPool's
/// large buffers); NULL if memory runs out. Its pages come from the system on first touch.
void *easel_map_pages(size_t bytes);

/// The mapping at `pages` (`bytes` long, from easel_map_pages or easel_resize_pages) made
/// `newBytes` long, possibly elsewhere: on Linux the pages it already has move with it
/// (mremap), so they need not fault again; the contents are not kept anywhere else. NULL if
/// memory runs out (then `pages` is gone too).
void *easel_resize_pages(void *pages, size_t bytes, size_t newBytes);

/// Gives a mapping from easel_map_pages or easel_resize_pages back to the system.
void easel_unmap_pages(void *pages, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
