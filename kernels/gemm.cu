// CUDA twin of the GEMM family (kernels/gemm.h): our own SGEMM (no cuBLAS).
//
// The kernel: a block computes a BM x BN tile of C, marching over k in steps of BK. Each step the
// block stages A's BM x BK and B's BK x BN slices in shared memory, both stored k-major (As[k][m],
// Bs[k][n]) whatever the transposes, so the inner product reads contiguous float4s; transposes only
// change how global memory is read (always coalesced along the stored row). Each thread keeps a
// TM x TN micro-tile of C in registers (register blocking: TM + TN shared loads per TM * TN FMAs),
// split into 4-wide pieces BM/RM apart so a warp's float4 reads of Bs are consecutive
// (conflict-free). The next step's global loads are issued into registers before the current
// step's math (register prefetch) to hide their latency. Out-of-range elements load as zero, so
// any m, n, k, lda, ldb, ldc work; only the final store is bounds-checked.
// Two shapes: 128x128 tiles with 8x8 micro-tiles for large C, 64x64 with 4x4 when the large tiles
// would leave the GPU's ~132 SMs under two waves (small batch FC, conv layers with few filters).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/gemm.h"

namespace cvg::cuda {
namespace detail {

template <int BM, int BN, int BK, int TM, int TN, bool TA, bool TB>
__global__ void __launch_bounds__((BM / TM) * (BN / TN)) sgemm_kernel(GemmBatched p) {
  constexpr int NT = (BM / TM) * (BN / TN);
  constexpr int A_LOADS = BM * BK / NT, B_LOADS = BN * BK / NT;
  constexpr int RM = TM / 4, RN = TN / 4;  // 4-wide pieces of the micro-tile
  static_assert(TM % 4 == 0 && TN % 4 == 0, "micro-tile pieces are float4");
  static_assert(BM * BK % NT == 0 && BN * BK % NT == 0, "tile loads must split evenly");
  __shared__ __align__(16) float As[BK][BM + 4];  // +4: fewer bank conflicts on transposing stores,
  __shared__ __align__(16) float Bs[BK][BN + 4];  // rows stay 16-byte aligned

  const int tid = threadIdx.x;
  const int hi = blockIdx.z / p.lo_count, lo = blockIdx.z % p.lo_count;
  const float* A = p.A + hi * p.sA_hi + lo * p.sA_lo;
  const float* B = p.B + hi * p.sB_hi + lo * p.sB_lo;
  float* C = p.C + hi * p.sC_hi + lo * p.sC_lo;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int m = p.m, n = p.n, k = p.k;
  const int nseg = max(0, min(p.seg_per_hi, p.seg_total - hi * p.seg_per_hi));
  const int ktiles = (k + BK - 1) / BK;
  const int steps = nseg * ktiles;

  float a_reg[A_LOADS], b_reg[B_LOADS];
  // Global -> registers for step t (segment t / ktiles, k offset (t % ktiles) * BK).
  auto load = [&](int t) {
    const int s = t / ktiles, k0 = (t - s * ktiles) * BK;
    const float* As_ = A + s * p.sA_seg;
    const float* Bs_ = B + s * p.sB_seg;
#pragma unroll
    for (int e = 0; e < A_LOADS; ++e) {
      const int idx = tid + e * NT;
      // Consecutive threads walk A's stored row: along k when A is m x k, along m when k x m.
      const int r = TA ? idx % BM : idx / BK, c = TA ? idx / BM : idx % BK;
      const int gr = m0 + r, gc = k0 + c;
      a_reg[e] = (gr < m && gc < k) ? (TA ? As_[(int64_t)gc * p.lda + gr] : As_[(int64_t)gr * p.lda + gc]) : 0.0f;
    }
#pragma unroll
    for (int e = 0; e < B_LOADS; ++e) {
      const int idx = tid + e * NT;
      const int r = TB ? idx / BK : idx % BN, c = TB ? idx % BK : idx / BN;  // r along n, c along k
      const int gr = n0 + r, gc = k0 + c;
      b_reg[e] = (gr < n && gc < k) ? (TB ? Bs_[(int64_t)gr * p.ldb + gc] : Bs_[(int64_t)gc * p.ldb + gr]) : 0.0f;
    }
  };
  auto store = [&]() {
#pragma unroll
    for (int e = 0; e < A_LOADS; ++e) {
      const int idx = tid + e * NT;
      const int r = TA ? idx % BM : idx / BK, c = TA ? idx / BM : idx % BK;
      As[c][r] = a_reg[e];
    }
#pragma unroll
    for (int e = 0; e < B_LOADS; ++e) {
      const int idx = tid + e * NT;
      const int r = TB ? idx / BK : idx % BN, c = TB ? idx % BK : idx / BN;
      Bs[c][r] = b_reg[e];
    }
  };

  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  if (steps > 0) load(0);
  for (int t = 0; t < steps; ++t) {  // block-uniform trip count: the barriers are safe
    store();
    __syncthreads();
    if (t + 1 < steps) load(t + 1);
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int r = 0; r < RM; ++r) {
        const float4 v = *reinterpret_cast<const float4*>(&As[kk][r * (BM / RM) + ty * 4]);
        a[4 * r] = v.x, a[4 * r + 1] = v.y, a[4 * r + 2] = v.z, a[4 * r + 3] = v.w;
      }
#pragma unroll
      for (int r = 0; r < RN; ++r) {
        const float4 v = *reinterpret_cast<const float4*>(&Bs[kk][r * (BN / RN) + tx * 4]);
        b[4 * r] = v.x, b[4 * r + 1] = v.y, b[4 * r + 2] = v.z, b[4 * r + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  const float* rb = p.row_bias ? p.row_bias + lo * p.s_row_bias_lo : nullptr;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int row = m0 + (i / 4) * (BM / RM) + ty * 4 + i % 4;
    if (row >= m) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int col = n0 + (j / 4) * (BN / RN) + tx * 4 + j % 4;
      if (col >= n) continue;
      float* c = C + (int64_t)row * p.ldc + col;
      float v = p.alpha * acc[i][j];
      if (p.beta != 0.0f) v += p.beta * *c;
      if (rb) v += rb[row];
      if (p.col_bias) v += p.col_bias[col];
      *c = v;
    }
  }
}

template <int BM, int BN, int BK, int TM, int TN>
void launch(const GemmBatched& p, int z) {
  dim3 grid((p.n + BN - 1) / BN, (p.m + BM - 1) / BM, z);
  if (grid.y > 65535) throw std::logic_error("gemm: m = " + std::to_string(p.m) + " too large");
  constexpr int threads = (BM / TM) * (BN / TN);
  if (!p.ta && !p.tb) sgemm_kernel<BM, BN, BK, TM, TN, false, false><<<grid, threads>>>(p);
  if (!p.ta && p.tb) sgemm_kernel<BM, BN, BK, TM, TN, false, true><<<grid, threads>>>(p);
  if (p.ta && !p.tb) sgemm_kernel<BM, BN, BK, TM, TN, true, false><<<grid, threads>>>(p);
  if (p.ta && p.tb) sgemm_kernel<BM, BN, BK, TM, TN, true, true><<<grid, threads>>>(p);
  CUDA_CHECK_LAUNCH();
}

void gemm_batched(const GemmBatched& p) {
  check_gemm_args(p.ta, p.tb, p.m, p.n, p.k, p.lda, p.ldb, p.ldc);
  if (p.m == 0 || p.n == 0 || p.hi_count == 0 || p.lo_count == 0) return;
  const long long z = (long long)p.hi_count * p.lo_count;
  if (z > 65535) throw std::logic_error("gemm: batch " + std::to_string(z) + " exceeds 65535");
  const long long big_blocks = (long long)((p.m + 127) / 128) * ((p.n + 127) / 128) * z;
  if (big_blocks >= 264) launch<128, 128, 8, 8, 8>(p, (int)z);
  else launch<64, 64, 16, 4, 4>(p, (int)z);
}

}  // namespace detail

void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc) {
  detail::GemmBatched p;
  p.ta = ta, p.tb = tb, p.m = m, p.n = n, p.k = k, p.alpha = alpha, p.beta = beta;
  p.A = A, p.lda = lda, p.B = B, p.ldb = ldb, p.C = C, p.ldc = ldc;
  detail::gemm_batched(p);
}

}  // namespace cvg::cuda
