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
    if (__get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1) && ((eax1 >> 5) & 1))
        features |= EASEL_CPU_AVX512_BF16;
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
