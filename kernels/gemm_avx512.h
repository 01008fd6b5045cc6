// AVX-512 GEMM kernels (kernels/gemm_avx512.cpp). Call them only through kernels/gemm.h (cpu::),
// which checks that the CPU has AVX-512; all matrices are row-major.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cvg::cpu::avx512 {

constexpr int kPanelRows = 8;  // op(A) is packed in panels of this many rows, zero-padded
// k per block: every element's sum runs over k in order within blocks of this many, the blocks added
// in order (both kernel sets; a product cut into k ranges at multiples of it keeps its bits).
constexpr int kBlockK = 256;

// Products with an operand too big for the caches, which both kernel sets schedule for memory
// (none of this changes a bit of any result):
//  - B read once from memory: A has at most one panel of rows and B is big (an fc layer's forward
//    and backward-data over a small batch); op(A) B takes B's rows a few at a time, side by side,
//    so that each streams through memory, and A B^T asks for B's rows ahead of use.
//  - C written once to memory: k is short and C is big (an fc layer's weight gradient over a small
//    batch); C is written row panel after row panel, by streaming stores where beta is 0 and its
//    rows are 64-byte aligned.
constexpr int kShortK = 64;
constexpr int kSubK = 16;  // B in memory: rows of B taken side by side, per strip, before the next rows
constexpr size_t kInMemoryBytes = 4 << 20;  // twice a core's L2
inline bool b_in_memory(int m, int n, int k) { return m <= kPanelRows && (size_t)k * n * sizeof(float) >= kInMemoryBytes; }
inline bool c_in_memory(int m, int n, int k) { return k <= kShortK && (size_t)m * n * sizeof(float) >= kInMemoryBytes; }
inline bool c_streams(int m, int n, int k, float beta, const float* c, int ldc) {
  return c_in_memory(m, n, k) && beta == 0.0f && ldc % 16 == 0 && reinterpret_cast<uintptr_t>(c) % 64 == 0;
}

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
