// General matrix multiply, the one GEMM family under the FC, conv and stats kernels.
// Row-major: C[m x n] = alpha * op(A) * op(B) + beta * C, op(A) = A^T when ta (A stored k x m),
// lda/ldb/ldc are row strides; beta 0 means C is not read (NaNs in C are cleared), and k == 0 gives
// C = beta C, as BLAS does. Negative sizes and leading dimensions shorter than a row are caller bugs
// (std::logic_error).
//   CPU twin (gemm_cpu.cpp): our AVX-512 kernels (gemm_avx512.cpp) where the CPU has AVX-512, their
//     bitwise-equal AVX2 twins (gemm_avx2.cpp) where it has AVX2 and FMA, so results do not depend
//     on the CPU; OpenBLAS (single-threaded inside our OpenMP split) elsewhere.
//     CONVERGENT_CPU_GEMM=openblas forces OpenBLAS, =avx2 the AVX2 kernels, for comparisons.
//   CUDA twin (gemm.cu): our own tiled SGEMM (cuBLAS appears only in bench/ and tests as a
//     baseline), with a batched, segment-summed form that the conv twin builds on.
#pragma once
#include <climits>
#include <cstdint>
#include <vector>

#include "kernels/common.h"

namespace cvg {

#define CVG_GEMM_TWIN_API                                                                                                     \
  void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb, float beta, \
            float* C, int ldc);

namespace cpu {
CVG_GEMM_TWIN_API
}
namespace cuda {
CVG_GEMM_TWIN_API
}
#undef CVG_GEMM_TWIN_API

// Both twins' argument check: throws std::logic_error for negative sizes or short leading dimensions.
void check_gemm_args(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc);

namespace cpu {

// OpenBLAS runs single-threaded inside OUR OpenMP regions: one thread pool for the whole engine
// (two pools spinning on the same cores starve each other, and our own split keeps the rounding
// deterministic). Every cblas call in the engine comes after this; the first call sets it once.
void blas_single_threaded();

// "avx512", "avx2" or "openblas": the kernels this process uses.
const char* gemm_kernels();
// Whether this process runs the AVX-512 kernels on a CPU that executes a 512-bit operation as two
// 256-bit halves (AMD Zen 4: family 0x19 with AVX-512), so that their wider tiles gain no
// arithmetic over AVX2's and saving a copy pays more (kernels/conv_cpu.cpp's direct routes).
bool avx512_split_in_halves();

// A left operand op(A) (m x k) prepared once and multiplied by many right operands, e.g. a conv
// layer's weights by every image's im2col matrix; single-threaded. Holds a pointer to A when
// OpenBLAS is in use.
class GemmLhs {
 public:
  GemmLhs(bool trans, int m, int k, const float* a, int lda);
  // C[m x n] = op(A) B[k x n] + beta C.
  void times(int n, const float* b, int ldb, float beta, float* c, int ldc) const;
  // Rows [i0, i1) of that C (c points at row i0), i0 a multiple of avx512::kPanelRows (else
  // std::logic_error): on our kernels the same bits as those rows of times(), so that a caller can
  // use C a piece at a time while it is still in cache.
  void times_rows(int i0, int i1, int n, const float* b, int ldb, float beta, float* c, int ldc) const;

 private:
  bool trans_;
  int m_, k_, lda_;
  const float* a_;
  std::vector<float> packed_;  // empty when OpenBLAS is in use
};

// C[m x n] = A[m x k] B[n x k]^T + beta C; single-threaded. From 32 x 48 on (m x n) it runs on the
// packed kernels with B^T transposed strip by strip (bitwise GemmLhs(A).times(B^T)); smaller
// products, such as the statistics' 16-row blocks over long k, on dot-product tiles.
void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
// Whether gemm_nt(m, n, ...) runs on the packed kernels on our kernel sets: each element of C is
// then gemm_packed's chain (per k block of avx512::kBlockK, FMAs in k order, then C added).
bool gemm_nt_on_packed(int m, int n);

// gemm_nt's dot products on rows stored in halves: of the 16 values k = 16q + l of a row, those
// with l < 8 go to its low half (at 8q + l), the others to its high half (at h + 8q + l - 8), h
// floats each, zeros past the row's end (to_halves writes this). Bitwise the sums of gemm_nt's
// dot-product tiles (its route under 32 rows) on the plain rows, for any k with 2h - 16 < k <= 2h.
// The AVX2 kernels take each half in a pass of whole cache lines, 7 loads per 12 FMAs where plain
// rows need 16, ~1.35x faster; with the others (AVX-512 or OpenBLAS) nt_halves_pays() is false
// and gemm_nt_halves re-forms plain rows.
bool nt_halves_pays();
void gemm_nt_halves(int m, int n, int h, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
// dst[0, 2h) = the k values of src in halves, zeros past k; h a multiple of 8 with k <= 2h.
void to_halves(const float* src, int k, float* dst, int h);

}  // namespace cpu

// The CUDA twin's batched form, for the CUDA twins of FC and conv: one SGEMM kernel that also serves
// batched and segment-summed products, so convolution needs no kernel of its own for the matrix work.
//
// For every z in [0, hi_count * lo_count), with hi = z / lo_count, lo = z % lo_count:
//   C_z = alpha * sum_{s < nseg(hi)} op(A_z + s*sA_seg) op(B_z + s*sB_seg) + beta * C_z
//         (+ row_bias[lo*s_row_bias_lo + i]) (+ col_bias[j])
// where X_z = X + hi*sX_hi + lo*sX_lo and nseg(hi) = min(seg_per_hi, seg_total - hi*seg_per_hi).
// Conv uses hi for images and lo for groups; the segments sum backward-weights over images
// inside the kernel. Plain gemm is hi_count = lo_count = 1 with one segment.
namespace cuda::detail {

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

// Launches on the default stream; throws CudaError on failed launches, std::logic_error on bad arguments.
void gemm_batched(const GemmBatched& p);

}  // namespace cuda::detail

}  // namespace cvg
