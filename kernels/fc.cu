// CUDA twin of the fully-connected layer, on the CUDA SGEMM (kernels/gemm.h): the forward bias is
// added in the GEMM's epilogue, the bias gradient by a column-sum kernel.
#include "kernels/fc.h"
#include "kernels/gemm.h"

namespace cvg::cuda {
namespace {

// db[j] = sum_i dy[i*out + j], rows added in order: deterministic, coalesced across j.
__global__ void column_sums_kernel(int n, int out, const float* __restrict__ dy, float* __restrict__ db) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= out) return;
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += dy[(int64_t)i * out + j];
  db[j] = s;
}

}  // namespace

void fc_forward(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  detail::GemmBatched p;  // y = x w^T with the bias added in the epilogue
  p.tb = true, p.m = n, p.n = out, p.k = in;
  p.A = x, p.lda = in, p.B = w, p.ldb = in, p.C = y, p.ldc = out, p.col_bias = b;
  detail::gemm_batched(p);
}

void fc_backward_data(int n, int in, int out, const float* dy, const float* w, float* dx) {
  gemm(false, false, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
}

void fc_backward_weights(int n, int in, int out, const float* x, const float* dy, float* dw, float* db) {
  gemm(true, false, out, in, n, 1.0f, dy, out, x, in, 0.0f, dw, in);
  if (db && out > 0) {
    column_sums_kernel<<<(out + 255) / 256, 256>>>(n, out, dy, db);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace cvg::cuda
