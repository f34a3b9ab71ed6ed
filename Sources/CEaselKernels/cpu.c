// Run-time CPU feature detection for the kernels.

#include "EaselKernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

/// Linux keeps AMX tile data off until a process asks (arch_prctl ARCH_REQ_XCOMP_PERM).
static int request_amx_permission(void) {
#if defined(__linux__)
    const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}

#include <immintrin.h>
#include <time.h>

#define DOT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/// Seconds for `rounds` x 12 independent vdpbf16ps (dot) or vfmadd231ps.
DOT_TARGET static double time_chains(int dot, long rounds) {
    __m512 a0 = _mm512_set1_ps(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m512 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-4f);
    __m512bh p = (__m512bh)_mm512_set1_epi32(0x3f803f80), q = (__m512bh)_mm512_set1_epi32(0x38d138d1);
    double start = seconds();
    for (long i = 0; i < rounds; i++) {
#define STEP(r) r = dot ? _mm512_dpbf16_ps(r, p, q) : _mm512_fmadd_ps(r, x, y)
        STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5);
        STEP(a6); STEP(a7); STEP(a8); STEP(a9); STEP(a10); STEP(a11);
#undef STEP
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),
                              "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    return seconds() - start;
}

/// Whether AVX-512 BF16 dot products multiply faster than float32 FMA: each vdpbf16ps does
/// 32 multiply-adds, each vfmadd231ps 16, but CPUs differ in how many of each they issue
/// (this project's Sapphire Rapids test machine issues vdpbf16ps at about a quarter of its
/// FMA rate, so there a bfloat16 product without AMX is faster widened to float32).
/// Measured once, best of five short runs each (well under a millisecond in all), with a
/// margin for the noise of a shared machine.
DOT_TARGET static int dot_products_pay(void) {
    double dot = 1e9, fma = 1e9;
    for (int i = 0; i < 5; i++) {
        double t = time_chains(1, 2000);
        if (t < dot) dot = t;
        t = time_chains(0, 2000);
        if (t < fma) fma = t;
    }
    return 32 / dot > 1.25 * (16 / fma);
}

static unsigned detect(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int osxsave = (ecx >> 27) & 1, fma = (ecx >> 12) & 1;
    if (!osxsave || !fma) return 0;
    uint64_t xcr0 = read_xcr0();
    // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state all saved by the OS.
    if ((xcr0 & 0xe6) != 0xe6) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1;
    int avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
    int amxBF16 = (edx >> 22) & 1, amxTile = (edx >> 24) & 1;
    if (!(avx512f && avx512dq && avx512bw && avx512vl)) return 0;
    unsigned features = EASEL_CPU_AVX512;
    unsigned eax1, ebx1, ecx1, edx1;
    if (__get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1) && ((eax1 >> 5) & 1)) {
        features |= EASEL_CPU_AVX512_BF16;
        if (dot_products_pay()) features |= EASEL_CPU_BF16_DOT;
    }
    // XTILECFG (bit 17) and XTILEDATA (bit 18) must be OS-enabled.
    if (amxBF16 && amxTile && (xcr0 & (3ull << 17)) == (3ull << 17) && request_amx_permission())
        features |= EASEL_CPU_AMX_BF16;
    return features;
}

unsigned easel_cpu_features(void) {
    static volatile int cached = -1;
    int value = cached;
    if (value < 0) {
        value = (int)detect();
        cached = value;
    }
    return (unsigned)value;
}

#else

unsigned easel_cpu_features(void) { return 0; }

#endif
