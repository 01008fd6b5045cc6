#include "kernels/cpu_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu_blas.h"
#include "kernels/cpu_gemm_avx2.h"
#include "kernels/cpu_gemm_avx512.h"

namespace cvg::cpu {
namespace {

// Our kernels where the CPU has AVX2 and FMA (AVX-512 ones where it has that too; both give the same
// bits), so results do not depend on the CPU; OpenBLAS elsewhere or when CONVERGENT_CPU_GEMM=openblas.
// CONVERGENT_CPU_GEMM=avx2 runs the AVX2 kernels on an AVX-512 CPU (scripts/check_same_bits.sh).
enum class Kernels { avx512, avx2, openblas };
Kernels kernels() {
  static const Kernels k = [] {
    const char* force = std::getenv("CONVERGENT_CPU_GEMM");
    if (force && std::strcmp(force, "openblas") == 0) return Kernels::openblas;
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (force && std::strcmp(force, "avx2") == 0 && avx2) return Kernels::avx2;  // as on a CPU without AVX-512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return Kernels::avx512;
    if (avx2) return Kernels::avx2;
    return Kernels::openblas;
  }();
  return k;
}

// k == 0: C = beta C, as BLAS does (beta 0 clears, even NaNs).
void scale(int m, int n, float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
}

}  // namespace

const char* cpu_gemm_kernels() {
  return kernels() == Kernels::avx512 ? "avx512" : kernels() == Kernels::avx2 ? "avx2" : "openblas";
}

GemmLhs::GemmLhs(bool trans, int m, int k, const float* a, int lda) : trans_(trans), m_(m), k_(k), lda_(lda), a_(a) {
  if (kernels() != Kernels::openblas && m > 0 && k > 0) {
    packed_.resize(avx512::packed_a_floats(m, k));
    avx512::pack_a(trans, m, k, a, lda, packed_.data());
  }
}

void GemmLhs::times(int n, const float* b, int ldb, float beta, float* c, int ldc) const {
  if (m_ == 0 || n == 0) return;
  if (k_ == 0) return scale(m_, n, beta, c, ldc);
  if (!packed_.empty()) {
    if (kernels() == Kernels::avx512) return avx512::gemm_packed(m_, n, k_, packed_.data(), b, ldb, beta, c, ldc);
    return avx2::gemm_packed(m_, n, k_, packed_.data(), b, ldb, beta, c, ldc);
  }
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, trans_ ? CblasTrans : CblasNoTrans, CblasNoTrans, m_, n, k_, 1.0f, a_, lda_, b, ldb,
              beta, c, ldc);
}

void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale(m, n, beta, c, ldc);
  if (kernels() == Kernels::avx512) return avx512::gemm_nt(m, n, k, a, lda, b, ldb, beta, c, ldc);
  if (kernels() == Kernels::avx2) return avx2::gemm_nt(m, n, k, a, lda, b, ldb, beta, c, ldc);
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

// The packed layout both our kernel sets read; compiled for the base ISA so every CPU can pack.
namespace avx512 {

constexpr int kMr = kPanelRows;

size_t packed_a_floats(int m, int k) { return (size_t)(m + kMr - 1) / kMr * kMr * k; }

void pack_a(bool trans, int m, int k, const float* a, int lda, float* dst) {
  for (int i0 = 0; i0 < m; i0 += kMr) {
    const int mr = std::min(kMr, m - i0);
    float* panel = dst + (size_t)i0 * k;  // panel i0/kMr starts after i0/kMr full panels of kMr*k
    for (int p = 0; p < k; ++p)
      for (int r = 0; r < kMr; ++r)
        panel[(size_t)p * kMr + r] =
            r >= mr ? 0.0f : trans ? a[(size_t)p * lda + i0 + r] : a[(size_t)(i0 + r) * lda + p];
  }
}

}  // namespace avx512

}  // namespace cvg::cpu
