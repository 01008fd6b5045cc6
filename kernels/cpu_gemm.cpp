#include "kernels/cpu_gemm.h"

#include <cstdlib>
#include <cstring>

#include "kernels/cpu_blas.h"
#include "kernels/cpu_gemm_avx512.h"

namespace cvg::cpu {
namespace {

bool use_avx512() {
  static const bool yes = [] {
    const char* force = std::getenv("CONVERGENT_CPU_GEMM");
    if (force && std::strcmp(force, "openblas") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  }();
  return yes;
}

// k == 0: C = beta C, as BLAS does (beta 0 clears, even NaNs).
void scale(int m, int n, float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
}

}  // namespace

const char* cpu_gemm_kernels() { return use_avx512() ? "avx512" : "openblas"; }

GemmLhs::GemmLhs(bool trans, int m, int k, const float* a, int lda) : trans_(trans), m_(m), k_(k), lda_(lda), a_(a) {
  if (use_avx512() && m > 0 && k > 0) {
    packed_.resize(avx512::packed_a_floats(m, k));
    avx512::pack_a(trans, m, k, a, lda, packed_.data());
  }
}

void GemmLhs::times(int n, const float* b, int ldb, float beta, float* c, int ldc) const {
  if (m_ == 0 || n == 0) return;
  if (k_ == 0) return scale(m_, n, beta, c, ldc);
  if (!packed_.empty()) return avx512::gemm_packed(m_, n, k_, packed_.data(), b, ldb, beta, c, ldc);
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, trans_ ? CblasTrans : CblasNoTrans, CblasNoTrans, m_, n, k_, 1.0f, a_, lda_, b, ldb,
              beta, c, ldc);
}

void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale(m, n, beta, c, ldc);
  if (use_avx512()) return avx512::gemm_nt(m, n, k, a, lda, b, ldb, beta, c, ldc);
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace cvg::cpu
