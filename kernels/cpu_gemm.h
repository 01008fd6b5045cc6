// The single-threaded GEMMs under the CPU conv twin: our AVX-512 kernels where the CPU has AVX-512
// (kernels/cpu_gemm_avx512.cpp), their bitwise-equal AVX2 twins where it has AVX2 and FMA
// (kernels/cpu_gemm_avx2.cpp), OpenBLAS elsewhere. CONVERGENT_CPU_GEMM=openblas forces OpenBLAS,
// for comparisons. Row-major throughout; beta 0 means C is not read.
#pragma once
#include <vector>

namespace cvg::cpu {

// "avx512", "avx2" or "openblas": the kernels this process uses.
const char* cpu_gemm_kernels();

// A left operand op(A) (m x k) prepared once and multiplied by many right operands, e.g. a conv
// layer's weights by every image's im2col matrix. Holds a pointer to A when OpenBLAS is in use.
class GemmLhs {
 public:
  GemmLhs(bool trans, int m, int k, const float* a, int lda);
  // C[m x n] = op(A) B[k x n] + beta C.
  void times(int n, const float* b, int ldb, float beta, float* c, int ldc) const;

 private:
  bool trans_;
  int m_, k_, lda_;
  const float* a_;
  std::vector<float> packed_;  // empty when OpenBLAS is in use
};

// C[m x n] = A[m x k] B[n x k]^T + beta C.
void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace cvg::cpu
