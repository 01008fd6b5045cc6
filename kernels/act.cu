// ReLU and inverted dropout, CUDA. Memory-bound elementwise maps: grid-stride loops, float4
// loads/stores when every pointer is 16-byte aligned (a scalar loop finishes the n % 4 tail),
// scalar otherwise. In place is allowed, so no __restrict__. Dropout recomputes its mask from
// rng_keep(seed, stream, index, p), the CPU twin's call: both devices drop the same elements.
#include <algorithm>
#include <cstdint>

#include "kernels/act.h"
#include "kernels/rng.h"

namespace cvg::cuda {
namespace {

constexpr int kThreads = 256;

struct Relu {
  __device__ float operator()(float x, size_t) const { return x > 0.0f ? x : 0.0f; }
};
struct ReluGrad {  // a = y, b = dy
  __device__ float operator()(float y, float dy, size_t) const { return y > 0.0f ? dy : 0.0f; }
};
struct Dropout {
  float p, scale;
  uint64_t seed, stream;
  size_t offset;
  __device__ float operator()(float x, size_t i) const { return rng_keep(seed, stream, offset + i, p) ? x * scale : 0.0f; }
};

template <class Op>
__global__ void map1_kernel(size_t n, bool vec4, const float* a, float* out, Op op) {
  const size_t start = blockIdx.x * (size_t)blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
  size_t done = 0;
  if (vec4) {
    const size_t n4 = n / 4;
    for (size_t i = start; i < n4; i += step) {
      float4 v = reinterpret_cast<const float4*>(a)[i];
      const size_t e = 4 * i;
      v.x = op(v.x, e), v.y = op(v.y, e + 1), v.z = op(v.z, e + 2), v.w = op(v.w, e + 3);
      reinterpret_cast<float4*>(out)[i] = v;
    }
    done = 4 * n4;
  }
  for (size_t i = done + start; i < n; i += step) out[i] = op(a[i], i);
}

template <class Op>
__global__ void map2_kernel(size_t n, bool vec4, const float* a, const float* b, float* out, Op op) {
  const size_t start = blockIdx.x * (size_t)blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
  size_t done = 0;
  if (vec4) {
    const size_t n4 = n / 4;
    for (size_t i = start; i < n4; i += step) {
      const float4 u = reinterpret_cast<const float4*>(a)[i];
      float4 v = reinterpret_cast<const float4*>(b)[i];
      const size_t e = 4 * i;
      v.x = op(u.x, v.x, e), v.y = op(u.y, v.y, e + 1), v.z = op(u.z, v.z, e + 2), v.w = op(u.w, v.w, e + 3);
      reinterpret_cast<float4*>(out)[i] = v;
    }
    done = 4 * n4;
  }
  for (size_t i = done + start; i < n; i += step) out[i] = op(a[i], b[i], i);
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
// Enough blocks to cover the (vectorised) work once, capped: the grid-stride loop does the rest.
int blocks_for(size_t items) { return (int)std::max<size_t>(1, std::min<size_t>((items + kThreads - 1) / kThreads, 65535 * 8)); }

template <class Op>
void map1(size_t n, const float* a, float* out, Op op) {
  if (n == 0) return;
  const bool vec4 = aligned16(a) && aligned16(out);
  map1_kernel<<<blocks_for(vec4 ? (n + 3) / 4 : n), kThreads>>>(n, vec4, a, out, op);
  CUDA_CHECK_LAUNCH();
}
template <class Op>
void map2(size_t n, const float* a, const float* b, float* out, Op op) {
  if (n == 0) return;
  const bool vec4 = aligned16(a) && aligned16(b) && aligned16(out);
  map2_kernel<<<blocks_for(vec4 ? (n + 3) / 4 : n), kThreads>>>(n, vec4, a, b, out, op);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void relu_forward(size_t n, const float* x, float* y) { map1(n, x, y, Relu{}); }

void relu_backward(size_t n, const float* y, const float* dy, float* dx) { map2(n, y, dy, dx, ReluGrad{}); }

void dropout_forward(size_t n, float p, uint64_t seed, uint64_t stream, size_t offset, const float* x, float* y) {
  map1(n, x, y, Dropout{p, 1.0f / (1.0f - p), seed, stream, offset});
}

void dropout_backward(size_t n, float p, uint64_t seed, uint64_t stream, size_t offset, const float* dy, float* dx) {
  map1(n, dy, dx, Dropout{p, 1.0f / (1.0f - p), seed, stream, offset});
}

}  // namespace cvg::cuda
