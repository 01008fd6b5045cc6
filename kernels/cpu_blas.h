// OpenBLAS on the CPU twins runs single-threaded inside OUR OpenMP regions: one thread pool for the
// whole engine. Two pools (OpenMP's and OpenBLAS's pthreads) spinning on the same 2 cores starve
// each other, and parallelising over the batch ourselves makes the split, hence the rounding,
// deterministic. Call blas_single_threaded() before any cblas call; the first call sets it once.
#pragma once
#include <cblas.h>

#include <cstdlib>
#include <cstring>

extern "C" {
// OpenBLAS (DYNAMIC_ARCH builds, as Debian's): its kernel table, chosen from the CPU at load time.
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
}

namespace cvg::cpu {

// OpenBLAS 0.3.21 (Debian 12) does not know newer CPUs (e.g. Intel family 6 model 207) and falls
// back to its SSE3 "Prescott" kernels, 2.5x slower than its AVX2 ones (1024^3 sgemm: 182 vs 72 ms).
// Unless the user pinned OPENBLAS_CORETYPE, a CPU with AVX2 and FMA left on Prescott is switched to
// the Haswell (AVX2) kernels; not to SkylakeX, whose AVX-512 kernels misbehave in some environments.
inline void blas_pick_kernels() {
  if (std::getenv("OPENBLAS_CORETYPE") || std::strcmp(openblas_get_corename(), "Prescott") != 0) return;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
  setenv("OPENBLAS_CORETYPE", "Haswell", 1);  // read by gotoblas_dynamic_init only
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");  // child processes choose for themselves
}

inline void blas_single_threaded() {
  static const bool once = (blas_pick_kernels(), openblas_set_num_threads(1), true);
  (void)once;
}

}  // namespace cvg::cpu
