// Elementwise activations: ReLU and dropout. Dropout draws its mask from the counter-based RNG
// (kernels/rng.h) keyed by (seed, stream, index), so backward recomputes the mask instead of
// storing it, and the CPU and the GPU drop the same elements.
#pragma once
#include "kernels/common.h"

namespace cvg {

#define CVG_ACT_TWIN_API                                                                             \
  /* y = max(x, 0); y may alias x */                                                                 \
  void relu_forward(size_t n, const float* x, float* y);                                             \
  /* dx = dy where y > 0, else 0; dx may alias dy */                                                 \
  void relu_backward(size_t n, const float* y, const float* dy, float* dx);                          \
  /* y = x / (1 - p) where kept, else 0 (inverted dropout); y may alias x. Element i draws         \
     rng_keep(seed, stream, offset + i): a slice of a batch (an MPI rank's) gets the batch's mask */ \
  void dropout_forward(size_t n, float p, uint64_t seed, uint64_t stream, size_t offset, const float* x, float* y); \
  void dropout_backward(size_t n, float p, uint64_t seed, uint64_t stream, size_t offset, const float* dy, float* dx);

namespace cpu {
CVG_ACT_TWIN_API
}
namespace cuda {
CVG_ACT_TWIN_API
}
#undef CVG_ACT_TWIN_API

}  // namespace cvg
