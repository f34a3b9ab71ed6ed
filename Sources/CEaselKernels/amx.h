// What the AMX kernels (gemm_bf16.c, conv_bf16_amx.c, attention_bf16.c) share: their target attribute,
// the VNNI pair order and the tile configuration.

#ifndef EASEL_AMX_H
#define EASEL_AMX_H

#include <stdint.h>

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

/// Interleaves k pairs: [x0..x15 | y0..y15] -> x0 y0 x1 y1 ... x15 y15.
extern const uint16_t easel_amx_pair_order[32];

/// Tile shapes: C tiles 0-3, A tiles 4-5, B tiles 6-7, each 16 rows of 64 bytes.
void easel_amx_configure_tiles(void);

#endif
