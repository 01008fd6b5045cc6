// OpenBLAS on the CPU twins runs single-threaded inside OUR OpenMP regions: one thread pool for the
// whole engine. Two pools (OpenMP's and OpenBLAS's pthreads) spinning on the same 2 cores starve
// each other, and parallelising over the batch ourselves makes the split, hence the rounding,
// deterministic. Call blas_single_threaded() before any cblas call; the first call sets it once.
#pragma once
#include <cblas.h>

namespace cvg::cpu {

inline void blas_single_threaded() {
  static const bool once = (openblas_set_num_threads(1), true);
  (void)once;
}

}  // namespace cvg::cpu
