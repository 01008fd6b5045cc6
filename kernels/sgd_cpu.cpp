#include "kernels/sgd.h"

namespace cvg::cpu {

void sgd_update(size_t n, float* w, float* v, const float* g, float lr, float momentum, float wd) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (size_t i = 0; i < n; ++i) {
    v[i] = momentum * v[i] + lr * (g[i] + wd * w[i]);
    w[i] -= v[i];
  }
}

}  // namespace cvg::cpu
