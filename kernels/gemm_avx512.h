// AVX-512 GEMM kernels (kernels/gemm_avx512.cpp). Call them only through kernels/gemm.h (cpu::),
// which checks that the CPU has AVX-512; all matrices are row-major.
#pragma once
#include <cstddef>

namespace cvg::cpu::avx512 {

constexpr int kPanelRows = 8;  // op(A) is packed in panels of this many rows, zero-padded
// k per block: every element's sum runs over k in order within blocks of this many, the blocks added
// in order (both kernel sets; a product cut into k ranges at multiples of it keeps its bits).
constexpr int kBlockK = 256;

// Floats that pack_a writes for an m x k op(A). These two are defined in kernels/gemm_cpu.cpp (base
// ISA): the AVX2 kernels read the same packed panels.
size_t packed_a_floats(int m, int k);
// op(A) = A (m x k, rows lda apart) or, with trans, A^T (A is k x m).
void pack_a(bool trans, int m, int k, const float* a, int lda, float* dst);
// C[m x n] = op(A) B[k x n] + beta C, op(A) packed by pack_a; k > 0.
void gemm_packed(int m, int n, int k, const float* packed_a, const float* b, int ldb, float beta, float* c, int ldc);
// C[m x n] = A[m x k] B[n x k]^T + beta C; k > 0.
void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace cvg::cpu::avx512
