// Softmax cross-entropy and class rank, CUDA. One warp per row (8 rows per 256-thread block):
// lanes stride the row so each pass is a coalesced read, and the max / sum reductions are warp
// shuffles with no shared memory or __syncthreads. A label outside [0, c) cannot throw here:
// it gives NaN loss, no one-hot term in the gradient, and rank -1, and never reads out of bounds.
#include <algorithm>
#include <cmath>

#include "kernels/loss.h"

namespace cvg::cuda {
namespace {

constexpr int kThreads = 256, kRowsPerBlock = kThreads / 32;
inline int row_blocks(int n) { return (n + kRowsPerBlock - 1) / kRowsPerBlock; }

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ int warp_sum(int v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void softmax_xent_forward_kernel(int n, int c, const float* __restrict__ logits,
                                            const int32_t* __restrict__ labels, float* __restrict__ prob,
                                            float* __restrict__ loss) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;  // whole warps leave together, so the shuffles below stay full-warp
  const float* x = logits + (size_t)row * c;
  float* pr = prob + (size_t)row * c;
  float m = -INFINITY;
  for (int j = lane; j < c; j += 32) m = fmaxf(m, x[j]);
  m = warp_max(m);
  float s = 0.0f;
  for (int j = lane; j < c; j += 32) {
    const float e = expf(x[j] - m);  // exponent <= 0: no overflow
    pr[j] = e;
    s += e;
  }
  s = warp_sum(s);
  for (int j = lane; j < c; j += 32) pr[j] = pr[j] / s;  // each lane rereads only its own writes
  if (lane == 0) {
    const int t = labels[row];
    loss[row] = (t >= 0 && t < c) ? logf(s) - (x[t] - m) : NAN;  // finite even when p_t underflows
  }
}

__global__ void softmax_xent_backward_kernel(int n, int c, const float* __restrict__ prob,
                                             const int32_t* __restrict__ labels, float scale,
                                             float* __restrict__ dlogits) {
  const size_t total = (size_t)n * c;
  for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < total; k += (size_t)gridDim.x * blockDim.x) {
    const int j = (int)(k % c);
    const int t = __ldg(labels + k / c);
    dlogits[k] = scale * (prob[k] - (j == t ? 1.0f : 0.0f));
  }
}

__global__ void class_rank_kernel(int n, int c, const float* __restrict__ logits,
                                  const int32_t* __restrict__ labels, int32_t* __restrict__ rank) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= n) return;
  const int t = labels[row];
  if (t < 0 || t >= c) {
    if (lane == 0) rank[row] = -1;
    return;
  }
  const float* x = logits + (size_t)row * c;
  const float target = x[t];
  int r = 0;
  for (int j = lane; j < c; j += 32) r += x[j] > target;  // strictly higher: ties do not count
  r = warp_sum(r);
  if (lane == 0) rank[row] = r;
}

}  // namespace

void softmax_xent_forward(int n, int c, const float* logits, const int32_t* labels, float* prob, float* loss) {
  if (n <= 0 || c <= 0) return;
  softmax_xent_forward_kernel<<<row_blocks(n), kThreads>>>(n, c, logits, labels, prob, loss);
  CUDA_CHECK_LAUNCH();
}

void softmax_xent_backward(int n, int c, const float* prob, const int32_t* labels, float scale, float* dlogits) {
  const size_t total = (size_t)std::max(n, 0) * std::max(c, 0);
  if (total == 0) return;
  const int blocks = (int)std::min<size_t>((total + kThreads - 1) / kThreads, 65535 * 8);
  softmax_xent_backward_kernel<<<blocks, kThreads>>>(n, c, prob, labels, scale, dlogits);
  CUDA_CHECK_LAUNCH();
}

void class_rank(int n, int c, const float* logits, const int32_t* labels, int32_t* rank) {
  if (n <= 0 || c <= 0) return;
  class_rank_kernel<<<row_blocks(n), kThreads>>>(n, c, logits, labels, rank);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cvg::cuda
