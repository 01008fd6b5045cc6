// LRN across channels, CUDA. One thread per (n, h, w) column walks the channels with a sliding
// window sum; adjacent threads own adjacent pixels, so every channel step is a coalesced load.
// The window's head, centre and tail are re-read rather than kept in registers (the window size
// is a runtime value); those re-reads are within a few channel planes and hit L1/L2, so DRAM
// traffic stays one read of each input and one write of each output. The running sums are in
// double (FP64 is ample on Hopper for a memory-bound kernel), in the CPU twin's order: sums and
// scale match the CPU bit for bit. The column bodies live in lrn_core.h (tested on the CPU too).
#include <algorithm>

#include "kernels/lrn.h"
#include "kernels/lrn_core.h"

namespace cvg::cuda {
namespace {

constexpr int kThreads = 256;
inline int blocks_for(size_t n) { return (int)std::min<size_t>((n + kThreads - 1) / kThreads, 65535 * 8); }

__global__ void lrn_forward_kernel(LrnGeom g, const float* __restrict__ x, float* __restrict__ y,
                                   float* __restrict__ scale) {
  const size_t hw = (size_t)g.h * g.w, cols = g.n * hw;
  for (size_t col = blockIdx.x * (size_t)blockDim.x + threadIdx.x; col < cols; col += (size_t)gridDim.x * blockDim.x) {
    const size_t base = (col / hw) * g.c * hw + col % hw;
    lrn_core::forward_column(g, hw, x + base, y + base, scale + base);
  }
}

__global__ void lrn_backward_kernel(LrnGeom g, const float* __restrict__ x, const float* __restrict__ y,
                                    const float* __restrict__ scale, const float* __restrict__ dy,
                                    float* __restrict__ dx) {
  const size_t hw = (size_t)g.h * g.w, cols = g.n * hw;
  for (size_t col = blockIdx.x * (size_t)blockDim.x + threadIdx.x; col < cols; col += (size_t)gridDim.x * blockDim.x) {
    const size_t base = (col / hw) * g.c * hw + col % hw;
    lrn_core::backward_column(g, hw, x + base, y + base, scale + base, dy + base, dx + base);
  }
}

}  // namespace

void lrn_forward(const LrnGeom& g, const float* x, float* y, float* scale) {
  const size_t cols = (size_t)g.n * g.h * g.w;
  if (cols == 0 || g.c <= 0) return;
  lrn_forward_kernel<<<blocks_for(cols), kThreads>>>(g, x, y, scale);
  CUDA_CHECK_LAUNCH();
}

void lrn_backward(const LrnGeom& g, const float* x, const float* y, const float* scale, const float* dy,
                  float* dx) {
  const size_t cols = (size_t)g.n * g.h * g.w;
  if (cols == 0 || g.c <= 0) return;
  lrn_backward_kernel<<<blocks_for(cols), kThreads>>>(g, x, y, scale, dy, dx);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cvg::cuda
