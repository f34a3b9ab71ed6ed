// The mask of a 16-lane vector's first lanes, as every kernel's ragged edge needs it.

#ifndef EASEL_LANES_H
#define EASEL_LANES_H

#include <immintrin.h>

/// Lanes [0, count) of 16, with count clamped to 0...16.
static inline __mmask16 first_lanes(long count) {
    return count >= 16 ? (__mmask16)0xffff : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

#endif
