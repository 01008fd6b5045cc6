// Max pooling, CUDA. Forward: one thread per output (coalesced writes; the overlapping window
// reads are served by L1). Backward is a gather, not an atomicAdd scatter: one thread per input
// element sums dy over the windows that can contain it whose switch points at it. No atomics, no
// zeroing pass, every dx written exactly once, and the sum runs in row-major window order, the
// CPU twin's order, so the result is deterministic and bit-identical to the CPU. The cost is
// reading the (at most ceil(k/s)^2, 4 for 3x3/2) covering windows' switches per input, all from
// neighbouring addresses. The thread bodies live in pool_core.h (tested on the CPU too).
#include <algorithm>

#include "kernels/pool.h"
#include "kernels/pool_core.h"

namespace cvg::cuda {
namespace {

constexpr int kThreads = 256;
inline int blocks_for(size_t n) { return (int)std::min<size_t>((n + kThreads - 1) / kThreads, 65535 * 8); }

__global__ void maxpool_forward_kernel(PoolGeom g, int oh_n, int ow_n, size_t total,
                                       const float* __restrict__ x, float* __restrict__ y,
                                       int32_t* __restrict__ argmax) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
    pool_core::forward_one(g, oh_n, ow_n, x, i, y, argmax);
}

__global__ void maxpool_backward_kernel(PoolGeom g, int oh_n, int ow_n, size_t total,
                                        const float* __restrict__ dy, const int32_t* __restrict__ argmax,
                                        float* __restrict__ dx) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
    dx[i] = pool_core::backward_one(g, oh_n, ow_n, dy, argmax, i);
}

}  // namespace

void maxpool_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  g.check("maxpool_forward");
  const size_t total = g.y_size();
  if (total == 0) return;
  maxpool_forward_kernel<<<blocks_for(total), kThreads>>>(g, g.out_h(), g.out_w(), total, x, y, argmax);
  CUDA_CHECK_LAUNCH();
}

void maxpool_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) {
  const size_t total = g.x_size();
  if (total == 0) return;
  maxpool_backward_kernel<<<blocks_for(total), kThreads>>>(g, g.out_h(), g.out_w(), total, dy, argmax, dx);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cvg::cuda
