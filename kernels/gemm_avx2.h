// AVX2 GEMM kernels (kernels/gemm_avx2.cpp) that give BITWISE the results of the AVX-512 ones
// (kernels/gemm_avx512.cpp): every element of C is computed by the same chain of float FMAs and
// adds in the same order, only fewer at a time. So a net trains to the same weights on any x86-64 CPU
// with AVX2 and FMA, with or without AVX-512. Call them only through kernels/gemm.h.
#pragma once
#include <cstddef>

namespace cvg::cpu::avx2 {

// C[m x n] = op(A) B[k x n] + beta C, op(A) packed as avx512::pack_a packs it (panels of 8 rows); k > 0.
void gemm_packed(int m, int n, int k, const float* packed_a, const float* b, int ldb, float beta, float* c, int ldc);
// C[m x n] = A[m x k] B[n x k]^T + beta C; k > 0.
void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
// gemm_nt on rows in halves (cpu::gemm_nt_halves, kernels/gemm.h); h a positive multiple of 8.
void gemm_nt_halves(int m, int n, int h, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: 8x8 blocks in registers. Moves bits
// only, so the AVX-512 route uses it too.
void transpose(int rows, int cols, const float* src, size_t lds, float* dst, size_t ldd);

}  // namespace cvg::cpu::avx2
