// Private to the CUDA twins (fc.cu, conv.cu): one SGEMM kernel that also serves batched and
// segment-summed products, so convolution needs no kernel of its own for the matrix work.
//
// For every z in [0, hi_count * lo_count), with hi = z / lo_count, lo = z % lo_count:
//   C_z = alpha * sum_{s < nseg(hi)} op(A_z + s*sA_seg) op(B_z + s*sB_seg) + beta * C_z
//         (+ row_bias[lo*s_row_bias_lo + i]) (+ col_bias[j])
// where X_z = X + hi*sX_hi + lo*sX_lo and nseg(hi) = min(seg_per_hi, seg_total - hi*seg_per_hi).
// Conv uses hi for images and lo for groups; the segments sum backward-weights over images
// inside the kernel. Plain gemm is hi_count = lo_count = 1 with one segment.
// Row-major, op(A) = A^T when ta (A stored k x m); beta == 0 never reads C.
#pragma once
#include <climits>
#include <cstdint>

namespace cvg::cuda::detail {

struct GemmBatched {
  bool ta = false, tb = false;
  int m = 0, n = 0, k = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* A = nullptr;
  const float* B = nullptr;
  float* C = nullptr;
  int lda = 0, ldb = 0, ldc = 0;
  int hi_count = 1, lo_count = 1;
  int64_t sA_hi = 0, sA_lo = 0, sB_hi = 0, sB_lo = 0, sC_hi = 0, sC_lo = 0;
  int seg_per_hi = 1, seg_total = INT_MAX;
  int64_t sA_seg = 0, sB_seg = 0;
  const float* row_bias = nullptr;
  int64_t s_row_bias_lo = 0;
  const float* col_bias = nullptr;
};

// Launches on the default stream; throws CudaError / std::invalid_argument on bad launches.
void gemm_batched(const GemmBatched& p);

}  // namespace cvg::cuda::detail
