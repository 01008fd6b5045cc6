// AVX-512 GEMM micro-kernels for the CPU conv twin. This file alone is compiled with -mavx512f
// -mavx512vl (Makefile); kernels/gemm_cpu.cpp calls it only on CPUs that have both, so nothing
// else in the build needs AVX-512.
//
// Why our own: the OpenBLAS that Debian ships picks AVX2 kernels on CPUs it does not know (Zen 4/5),
// and some environments pin it there (OPENBLAS_CORETYPE) because its AVX-512 kernels misbehave on
// them; 512-bit FMAs double the peak. Every sum runs over k in increasing order within blocks of
// kKc, the blocks added in order, so results depend only on the shapes, never on threads.
#include <immintrin.h>

// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized (their _mm512_undefined_ps placeholder
// inside unpack/shuffle/extract); nothing in this file reads an uninitialised value.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <vector>

#include "kernels/gemm_avx512.h"

namespace cvg::cpu::avx512 {
namespace {

constexpr int kMr = kPanelRows;  // rows of C per micro-tile (broadcast from the packed A)
constexpr int kNv = 3;           // 16-float vectors of C columns per micro-tile: 8 x 48
constexpr int kNr = 16 * kNv;
constexpr int kKc = kBlockK;                // k per block: an A panel (8 KB) and a B strip (48 KB, from L1/L2)
constexpr size_t kNtBlockBytes = 24 << 10;  // gemm_nt: rows of A kept in L1 (half of a 48 KB L1d)
constexpr int kNtAhead = 256;               // gemm_nt with B in memory: floats of each row requested ahead

inline __mmask16 lanes(int count) {  // the first `count` of 16 lanes (count clamped to [0, 16])
  return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

// C[0:mr, 0:nr] = A_panel[kc x 8] * B[kc x nr] (+ beta C), nr <= 16 NV. B rows are ldb apart;
// lanes past nr are masked off on load and store, rows past mr are computed on A's zero padding
// and dropped. NV = 3 (24 accumulators, 11 loads per 24 FMAs) for full strips; a narrower tail
// strip takes the fewest vectors that cover it, so no FMA runs on columns that are all padding.
//
// Two variants for operands in memory (gemm_avx512.h), neither changing a bit of the result:
//  - kCarry (B in memory, one panel of A): a k block is taken kSubK rows at a time, strip after
//    strip, so that those rows stream through memory side by side (rather than a strip's 256 rows,
//    a few lines each 36 KB apart, which no prefetcher follows); between the pieces the
//    accumulators wait in `carry` (a kMr x 48 tile), exactly as they were. `first`: start from
//    zero, else from carry; `last`: finish into C, else leave them in carry.
//  - kStream (C in memory, beta 0): full tiles go out by streaming stores, which skip reading each
//    line for ownership first: half the memory traffic.
template <int NV, bool kFull, bool kCarry = false, bool kStream = false>
inline void micro_8xv(int kc, const float* a, const float* b, size_t ldb, int mr, int nr, float beta, float* c, size_t ldc,
                      float* carry, bool first, bool last) {
  __mmask16 mk[NV];
#pragma GCC unroll 3
  for (int v = 0; v < NV; ++v) mk[v] = lanes(nr - 16 * v);
  __m512 acc[kMr][NV];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[r][v] = kCarry && !first ? _mm512_loadu_ps(carry + r * kNr + 16 * v) : _mm512_setzero_ps();
  for (int p = 0; p < kc; ++p, a += kMr, b += ldb) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = kFull ? _mm512_loadu_ps(b + 16 * v) : _mm512_maskz_loadu_ps(mk[v], b + 16 * v);
    if (kCarry)  // the strip two to the right (the hardware prefetcher alone lags behind)
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) _mm_prefetch((const char*)(b + 2 * kNr + 16 * v), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
  if (kCarry && !last) {
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r)
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(carry + r * kNr + 16 * v, acc[r][v]);
    return;
  }
  // A tile with fewer than kMr rows goes through a local copy, so that the stores below always
  // cover kMr rows with constant indices: a loop bound of mr would make GCC keep acc in memory,
  // and store it on every k step.
  alignas(64) float part[kMr][16 * NV];
  float* dst = c;
  size_t ld = ldc;
  if (mr < kMr) {
    for (int r = 0; r < mr; ++r) std::copy(c + r * ldc, c + r * ldc + nr, part[r]);
    dst = &part[0][0], ld = 16 * NV;
  }
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) {
    float* row = dst + r * ld;
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      if (kStream) {  // the caller checked: beta 0, mr == kMr, a full strip, aligned rows
        _mm512_stream_ps(row + 16 * v, acc[r][v]);
        continue;
      }
      if (beta != 0.0f) acc[r][v] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk[v], row + 16 * v), acc[r][v]);
      _mm512_mask_storeu_ps(row + 16 * v, mk[v], acc[r][v]);
    }
  }
  if (mr < kMr)
    for (int r = 0; r < mr; ++r) std::copy(part[r], part[r] + nr, c + r * ldc);
}

// The micro-tile for a strip of nr <= kNr columns (the fewest vectors that cover it), without the
// operand-in-memory variants.
using Micro = void (*)(int, const float*, const float*, size_t, int, int, float, float*, size_t, float*, bool, bool);
Micro micro_for(int nr) {
  return nr == kNr ? micro_8xv<3, true> : nr > 32 ? micro_8xv<3, false> : nr > 16 ? micro_8xv<2, false> : micro_8xv<1, false>;
}

// The sums of four vectors, as one 4-float vector: two in-lane shuffle rounds, then the lanes.
inline __m128 sum4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
  const __m512 t01 = _mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1));
  const __m512 t23 = _mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3));
  const __m512 u =
      _mm512_add_ps(_mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 upper = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1));  // AVX512F only
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(u), upper);
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// One step of gemm_nt's 4x4 tile: 16 more k of its 16 dot products. Masked only for the last,
// partial step: a masked load costs an extra micro-op on the ports the FMAs need. kAhead: B is in
// memory (an fc layer's weights), its rows are requested kNtAhead floats ahead.
template <bool kMasked, bool kAhead = false>
inline __attribute__((always_inline)) void nt_step(const float* const (&ai)[4], const float* const (&bj)[4], int p, __mmask16 m16,
                                                   __m512 (&acc)[4][4]) {
  __m512 bv[4];
#pragma GCC unroll 4
  for (int s = 0; s < 4; ++s) bv[s] = kMasked ? _mm512_maskz_loadu_ps(m16, bj[s] + p) : _mm512_loadu_ps(bj[s] + p);
  if (kAhead)
#pragma GCC unroll 4
    for (int s = 0; s < 4; ++s) _mm_prefetch((const char*)(bj[s] + p + kNtAhead), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    const __m512 av = kMasked ? _mm512_maskz_loadu_ps(m16, ai[r] + p) : _mm512_loadu_ps(ai[r] + p);
#pragma GCC unroll 4
    for (int s = 0; s < 4; ++s) acc[r][s] = _mm512_fmadd_ps(av, bv[s], acc[r][s]);
  }
}

}  // namespace

void gemm_packed(int m, int n, int k, const float* packed_a, const float* b, int ldb, float beta, float* c, int ldc) {
  if (c_in_memory(m, n, k)) {  // one k block; C row panel after row panel, each in one sequential pass
    const bool stream = c_streams(m, n, k, beta, c, ldc);
    for (int i0 = 0; i0 < m; i0 += kMr) {
      const int mr = std::min(kMr, m - i0);
      for (int j0 = 0; j0 < n; j0 += kNr) {
        const int nr = std::min(kNr, n - j0);
        const Micro micro = stream && mr == kMr && nr == kNr ? micro_8xv<3, true, false, true> : micro_for(nr);
        micro(k, packed_a + (size_t)i0 * k, b + j0, ldb, mr, nr, beta, c + (size_t)i0 * ldc + j0, ldc, nullptr, true, true);
      }
    }
    if (stream) _mm_sfence();  // streaming stores are weakly ordered: finish them before C is read
    return;
  }
  // B in memory: full strips kSubK rows at a time (micro_8xv<kCarry>), the last partial strip whole.
  const int n_carry = b_in_memory(m, n, k) ? n / kNr * kNr : 0;
  thread_local std::vector<float> carry;
  if (n_carry) carry.resize((size_t)n_carry * kMr);
  for (int p0 = 0; p0 < k; p0 += kKc) {
    const int kc = std::min(kKc, k - p0);
    const float block_beta = p0 == 0 ? beta : 1.0f;  // later k blocks add to the first one's sum
    const float* ak = packed_a + (size_t)p0 * kMr;
    const float* bk = b + (size_t)p0 * ldb;
    for (int s0 = 0; s0 < kc && n_carry; s0 += kSubK) {
      const int sub = std::min(kSubK, kc - s0);
      for (int j0 = 0; j0 < n_carry; j0 += kNr)
        micro_8xv<3, true, true>(sub, ak + (size_t)s0 * kMr, bk + (size_t)s0 * ldb + j0, ldb, m, kNr, block_beta, c + j0, ldc,
                                 carry.data() + (size_t)j0 * kMr, s0 == 0, s0 + sub == kc);
    }
    for (int j0 = n_carry; j0 < n; j0 += kNr) {
      const int nr = std::min(kNr, n - j0);
      const Micro micro = micro_for(nr);
      for (int i0 = 0; i0 < m; i0 += kMr)
        micro(kc, ak + (size_t)i0 * k, bk + j0, ldb, std::min(kMr, m - i0), nr, block_beta, c + (size_t)i0 * ldc + j0, ldc, nullptr,
              true, true);
    }
  }
}

void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  // 4x4 tiles of C, each a set of 16 dot products vectorised along k. Rows past m or n re-read the
  // tile's first row (always valid) and are never stored. The rows of A are taken a block at a
  // time that stays in L1 (kNtBlockBytes) while every row of B passes by; the order of tiles does
  // not change any element's arithmetic.
  // A long k leaves fewer than 8 rows to a block: then B, re-read once per block, would cost more
  // than A, so all of A is one block (A from L2, B's 4 rows from L1).
  const bool ahead = b_in_memory(m, n, k);
  int block = (int)(kNtBlockBytes / (sizeof(float) * k)) / 4 * 4;
  if (block < 8) block = m;
  for (int ib = 0; ib < m; ib += block)
    for (int j0 = 0; j0 < n; j0 += 4) {
      const int nr = std::min(4, n - j0);
      const float* bj[4];
      for (int t = 0; t < 4; ++t) bj[t] = b + (size_t)(j0 + (t < nr ? t : 0)) * ldb;
      for (int i0 = ib; i0 < std::min(m, ib + block); i0 += 4) {
        const int mr = std::min(4, m - i0);
        const float* ai[4];
        for (int t = 0; t < 4; ++t) ai[t] = a + (size_t)(i0 + (t < mr ? t : 0)) * lda;
        // Every loop over r and s is unrolled so that acc stays in 16 registers.
        __m512 acc[4][4];
#pragma GCC unroll 16
        for (int t = 0; t < 16; ++t) acc[t / 4][t % 4] = _mm512_setzero_ps();
        int p = 0;
        if (ahead)
          for (; p + 16 <= k; p += 16) nt_step<false, true>(ai, bj, p, 0, acc);
        else
          for (; p + 16 <= k; p += 16) nt_step<false>(ai, bj, p, 0, acc);
        if (p < k) nt_step<true>(ai, bj, p, lanes(k - p), acc);  // lanes past k add 0 * 0
        __m128 sums[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) sums[r] = sum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
        const __mmask8 store = (__mmask8)((1u << nr) - 1);
        for (int r = 0; r < mr; ++r) {
          float* row = c + (size_t)(i0 + r) * ldc + j0;
          __m128 v = sums[r];
          if (beta != 0.0f) v = _mm_fmadd_ps(_mm_set1_ps(beta), _mm_maskz_loadu_ps(store, row), v);
          _mm_mask_storeu_ps(row, store, v);
        }
      }
    }
}

}  // namespace cvg::cpu::avx512
