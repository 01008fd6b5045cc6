// CPU twin of gemm and the fully-connected layer. gemm splits C into one block per OpenMP thread and
// calls single-threaded OpenBLAS on each (kernels/cpu_blas.h says why one pool); the split is a
// pure function of (m, n, thread count), so results are bit-identical run to run.
#include <omp.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cpu_blas.h"
#include "kernels/fc.h"

namespace cvg::cpu {

void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc) {
  if (m < 0 || n < 0 || k < 0) throw std::invalid_argument("gemm: negative size");
  if (m == 0 || n == 0) return;
  if (ldc < n || lda < std::max(1, ta ? m : k) || ldb < std::max(1, tb ? k : n))
    throw std::invalid_argument("gemm: leading dimension smaller than a row (lda " + std::to_string(lda) +
                                ", ldb " + std::to_string(ldb) + ", ldc " + std::to_string(ldc) + ")");
  if (k == 0 || alpha == 0.0f) {  // BLAS semantics: C = beta C, A and B unread; beta 0 clears NaNs
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return;
  }
  blas_single_threaded();
  // Parallel only when there is enough work to pay for waking the threads (~1 ms of one core).
  const double flops = 2.0 * m * n * k;
  int parts = flops < 4e6 ? 1 : std::max(1, omp_get_max_threads());
  const bool split_n = n >= m;  // cut the longer side of C
  const int side = split_n ? n : m, align = split_n ? 16 : 8;
  int step = (side + parts - 1) / parts;
  step = (step + align - 1) / align * align;
  parts = (side + step - 1) / step;
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
#pragma omp parallel for schedule(static, 1) num_threads(parts) if (parts > 1)
  for (int p = 0; p < parts; ++p) {
    const int lo = p * step, len = std::min(side, lo + step) - lo;
    if (split_n)  // columns [lo, lo+len) of op(B) and C
      cblas_sgemm(CblasRowMajor, TA, TB, m, len, k, alpha, A, lda, B + (tb ? (size_t)lo * ldb : lo), ldb, beta,
                  C + lo, ldc);
    else  // rows [lo, lo+len) of op(A) and C
      cblas_sgemm(CblasRowMajor, TA, TB, len, n, k, alpha, A + (ta ? lo : (size_t)lo * lda), lda, B, ldb, beta,
                  C + (size_t)lo * ldc, ldc);
  }
}

void fc_forward(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  gemm(false, true, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
  if (b)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < out; ++j) y[(size_t)i * out + j] += b[j];
}

void fc_backward_data(int n, int in, int out, const float* dy, const float* w, float* dx) {
  gemm(false, false, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
}

void fc_backward_weights(int n, int in, int out, const float* x, const float* dy, float* dw, float* db) {
  gemm(true, false, out, in, n, 1.0f, dy, out, x, in, 0.0f, dw, in);
  if (db) {  // rows added in order: deterministic, vectorised across columns
    std::fill(db, db + out, 0.0f);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < out; ++j) db[j] += dy[(size_t)i * out + j];
  }
}

}  // namespace cvg::cpu
