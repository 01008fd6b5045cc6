// ReLU and inverted dropout, CPU twin. Elementwise, in place allowed (no restrict).
#include <cstring>

#include "kernels/act.h"
#include "kernels/rng.h"

namespace cvg::cpu {
namespace {
// v where keep, else +0.0f, by masking v's bits: the kept/dropped test is a coin flip, so a branch
// on it (what the compiler emits for `keep ? v : 0.0f`) mispredicts every other element.
inline float kept_or_zero(bool keep, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= 0u - (uint32_t)keep;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
}  // namespace

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
  for (size_t i = 0; i < n; ++i) y[i] = kept_or_zero(rng_keep(seed, stream, offset + i, p), x[i] * scale);
}

void dropout_backward(size_t n, float p, uint64_t seed, uint64_t stream, size_t offset, const float* dy, float* dx) {
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > (1 << 14))
  for (size_t i = 0; i < n; ++i) dx[i] = kept_or_zero(rng_keep(seed, stream, offset + i, p), dy[i] * scale);
}

}  // namespace cvg::cpu
