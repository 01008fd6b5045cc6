// ReLU and inverted dropout, CPU twin. Elementwise, in place allowed (no restrict).
#include "kernels/act.h"
#include "kernels/rng.h"

namespace cvg::cpu {

void relu_forward(size_t n, const float* x, float* y) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;  // NaN -> 0, as on the GPU
}

void relu_backward(size_t n, const float* y, const float* dy, float* dx) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// The mask is recomputed from (seed, stream, index), never stored; index is the element's
// position in the whole tensor, so any split into threads or devices drops the same elements.
void dropout_forward(size_t n, float p, uint64_t seed, uint64_t stream, size_t offset, const float* x, float* y) {
  const float scale = 1.0f / (1.0f - p);  // only applied to kept elements, so p = 1 gives 0, not inf
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (size_t i = 0; i < n; ++i) y[i] = rng_keep(seed, stream, offset + i, p) ? x[i] * scale : 0.0f;
}

void dropout_backward(size_t n, float p, uint64_t seed, uint64_t stream, size_t offset, const float* dy, float* dx) {
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (size_t i = 0; i < n; ++i) dx[i] = rng_keep(seed, stream, offset + i, p) ? dy[i] * scale : 0.0f;
}

}  // namespace cvg::cpu
