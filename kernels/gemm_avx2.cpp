// AVX2 twins of the AVX-512 GEMM kernels, bitwise equal to them (kernels/gemm_avx2.h says why).
// This file alone is compiled with -mavx2 -mfma whatever ISA the build targets (Makefile);
// kernels/gemm_cpu.cpp calls it only on CPUs that have both.
//
// What must match, element by element, is the AVX-512 file's arithmetic, not its tiling:
//  - gemm_packed: per k block of kKc, acc = 0, then acc = fma(a[p], b[p], acc) for p in order; then
//    acc = fma(beta, c, acc) when beta != 0 (later blocks use beta 1); store.
//  - gemm_nt: 16 partial sums, lane l taking p = l, l+16, ... by fma; masked lanes past k add 0*0;
//    the 16 lanes reduced by sum4's tree, ((x0+x2)+(x1+x3)) per group of 4, groups as (G0+G2)+(G1+G3);
//    then fma(beta, c, sum) when beta != 0.
#include "kernels/gemm_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/gemm_avx512.h"  // kPanelRows: the packed layout both share

namespace cvg::cpu::avx2 {
namespace {

constexpr int kMr = avx512::kPanelRows;  // 8 rows of C per micro-tile, as the packed panels
constexpr int kNr = 8;                   // one 8-float vector of columns: 8 accumulators
constexpr int kKc = avx512::kBlockK;     // the AVX-512 file's k block

inline __m256i lanes(int count) {  // the first `count` of 8 lanes set (count clamped to [0, 8])
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(std::clamp(count, 0, 8)), idx);
}

// C[0:mr, 0:nr] = A_panel[kc x 8] * B[kc x nr] (+ beta C), nr <= 8; kFull: nr == 8, plain loads
// (a masked load costs extra micro-ops).
template <bool kFull>
inline void micro_8x8(int kc, const float* a, const float* b, size_t ldb, int mr, int nr, float beta, float* c, size_t ldc) {
  const __m256i m = lanes(nr);
  __m256 acc[kMr];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) acc[r] = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p, a += kMr, b += ldb) {
    const __m256 bv = kFull ? _mm256_loadu_ps(b) : _mm256_maskload_ps(b, m);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + r), bv, acc[r]);
  }
  const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) {  // constant indices into acc, as in micro_4xv
    if (r >= mr) break;
    float* row = c + r * ldc;
    __m256 v = acc[r];
    if (beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_maskload_ps(row, m), v);
    _mm256_maskstore_ps(row, m, v);
  }
}

// C[r0:r0+4, 0:8 NV] of a full strip of 8 NV columns = rows r0..r0+3 of A_panel[kc x 8] *
// B[kc x 8 NV] (+ beta C): 4 NV accumulators fed by NV loads of B and 4 broadcasts per k. NV = 3
// (12 accumulators, 7 loads per 12 FMAs) keeps both FMA ports busy with room for the FMA latency;
// NV = 2 takes a 16-column remainder (the 8x8 tile needs 9 loads for its 8 FMAs and waits on them).
// Rows past mr are computed on A's zero padding, not stored.
// kCarry and kStream as in the AVX-512 micro_8xv; carry holds the whole panel's kMr x 8 NV tile.
template <int NV, bool kCarry = false, bool kStream = false>
inline void micro_4xv(int kc, const float* a, int r0, const float* b, size_t ldb, int mr, float beta, float* c, size_t ldc,
                      float* carry = nullptr, bool first = true, bool last = true) {
  __m256 acc[4][NV];
  if (kCarry) carry += r0 * 8 * NV;
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[r][v] = kCarry && !first ? _mm256_loadu_ps(carry + r * 8 * NV + 8 * v) : _mm256_setzero_ps();
  a += r0;
  for (int p = 0; p < kc; ++p, a += kMr, b += ldb) {
    __m256 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
    if (kCarry)  // the strip two to the right: 96 bytes, in at most two 64-byte lines
#pragma GCC unroll 2
      for (int l = 0; l < 2; ++l) _mm_prefetch((const char*)(b + 2 * 8 * NV + 16 * l), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
    }
  }
  if (kCarry && !last) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r)
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(carry + r * 8 * NV + 8 * v, acc[r][v]);
    return;
  }
  // A constant trip count with a break, unrolled, so acc is indexed by constants only: a runtime
  // index makes GCC keep acc in memory and store every accumulator on every k (half the speed).
  const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r) {
    if (r >= mr - r0) break;
    float* row = c + (size_t)(r0 + r) * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      __m256 x = acc[r][v];
      if (kStream) {  // the caller checked: beta 0, 32-byte aligned
        _mm256_stream_ps(row + 8 * v, x);
        continue;
      }
      if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8 * v), x);
      _mm256_storeu_ps(row + 8 * v, x);
    }
  }
}

// Rows i0.. of C over one full strip of 8 NV columns, as two 4-row tiles of the 8-row panel.
template <int NV>
inline void strip_4xv(int m, int k, int kc, const float* packed_a, const float* bp, size_t ldb, float beta, float* cp, size_t ldc) {
  for (int i0 = 0; i0 < m; i0 += kMr) {
    const float* ap = packed_a + (size_t)i0 * k;
    float* ci = cp + (size_t)i0 * ldc;
    const int mr = std::min(kMr, m - i0);
    micro_4xv<NV>(kc, ap, 0, bp, ldb, mr, beta, ci, ldc);
    if (mr > 4) micro_4xv<NV>(kc, ap, 4, bp, ldb, mr, beta, ci, ldc);
  }
}

// One k block (k <= kKc) of C rows [0, m) x columns [0, n): strips of 24 and 16 columns, then
// 8-column tiles.
void packed_block(int m, int n, int k, int kc, const float* ak, const float* bk, size_t ldb, float beta, float* c, size_t ldc) {
  int j0 = 0;
  for (; j0 + 24 <= n; j0 += 24) strip_4xv<3>(m, k, kc, ak, bk + j0, ldb, beta, c + j0, ldc);
  if (j0 + 16 <= n) strip_4xv<2>(m, k, kc, ak, bk + j0, ldb, beta, c + j0, ldc), j0 += 16;
  for (; j0 < n; j0 += kNr)
    for (int i0 = 0; i0 < m; i0 += kMr)
      (n - j0 >= kNr ? micro_8x8<true> : micro_8x8<false>)(kc, ak + (size_t)i0 * k, bk + j0, ldb, std::min(kMr, m - i0),
                                                           std::min(kNr, n - j0), beta, c + (size_t)i0 * ldc + j0, ldc);
}

// C in memory (gemm_avx512.h), one k block: row panel after row panel. Streaming, each half panel
// takes 48 columns as two 24-column tiles back to back, so that their 96-byte rows fill whole
// 64-byte lines before a write-combining buffer lets a partial line go; the last n % 48 columns
// are stored as usual.
void packed_c_in_memory(int m, int n, int k, const float* packed_a, const float* b, size_t ldb, float beta, float* c,
                        size_t ldc, bool stream) {
  for (int i0 = 0; i0 < m; i0 += kMr) {
    const float* ap = packed_a + (size_t)i0 * k;
    float* ci = c + (size_t)i0 * ldc;
    const int mr = std::min(kMr, m - i0);
    int j0 = 0;
    if (stream && mr == kMr)
      for (; j0 + 48 <= n; j0 += 48)
        for (int r0 = 0; r0 < kMr; r0 += 4)
          for (int half = 0; half < 48; half += 24)
            micro_4xv<3, false, true>(k, ap, r0, b + j0 + half, ldb, mr, beta, ci + j0 + half, ldc);
    packed_block(mr, n - j0, k, k, ap, b + j0, ldb, beta, ci + j0, ldc);
  }
}

// The AVX-512 kernel's 16-lane reduction (sum4) of lanes lo = x[0..8), hi = x[8..16), in registers:
// g_q = (x[4q] + x[4q+2]) + (x[4q+1] + x[4q+3]) for groups q = 0, 1 in lo's two 128-bit lanes and
// q = 2, 3 in hi's, then (g0 + g2) + (g1 + g3): the same additions, so the same bits.
inline float sum16(__m256 lo, __m256 hi) {
  auto groups = [](__m256 v) {
    const __m256 t = _mm256_add_ps(v, _mm256_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));  // x0+x2, x1+x3 (each half)
    return _mm256_add_ps(t, _mm256_permute_ps(t, _MM_SHUFFLE(2, 3, 0, 1)));         // g at lanes 0 and 4
  };
  const __m256 s = _mm256_add_ps(groups(lo), groups(hi));  // g0+g2 at lane 0, g1+g3 at lane 4
  return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
}

// sum16's first steps for the four dot products d[0..4) at once: [g_0 | g_1] of each (lanes 0-3 |
// 4-7, in d's order), g_q = (x[4q] + x[4q+2]) + (x[4q+1] + x[4q+3]) of its 8 lanes x; sum16 of
// (lo, hi) is then (g_0(lo) + g_0(hi)) + (g_1(lo) + g_1(hi)) (sum4_of_groups). The same additions.
inline __m256 groups4(const __m256* d) {
  const __m256 u = d[0], v = d[1], w = d[2], z = d[3];
  const __m256 p = _mm256_add_ps(_mm256_shuffle_ps(u, v, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(u, v, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 q = _mm256_add_ps(_mm256_shuffle_ps(w, z, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(w, z, _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm256_add_ps(_mm256_shuffle_ps(p, q, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(p, q, _MM_SHUFFLE(3, 1, 3, 1)));
}
inline __m128 sum4_of_groups(__m256 lo_groups, __m256 hi_groups) {
  const __m256 s = _mm256_add_ps(lo_groups, hi_groups);
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

// One step of gemm_nt's 2 x NB tile: 16 more k (two 8-float halves) of its 2 NB dot products;
// masked only for the last, partial step. kAhead: B is in memory (an fc layer's weights): two
// streams are too few for the hardware prefetcher to reach the memory bandwidth, so each row's
// line 512 floats ahead is requested (in cache, the requests only take load slots).
template <bool kMasked, int NB, bool kAhead = false>
inline __attribute__((always_inline)) void nt_step(const float* const (&ai)[2], const float* const (&bj)[NB], int p,
                                                   __m256 (&lo)[2][NB], __m256 (&hi)[2][NB], int k = 16) {
  const __m256i ml = lanes(k - p), mh = lanes(k - p - 8);
  auto load = [&](const float* x, __m256i mask) { return kMasked ? _mm256_maskload_ps(x, mask) : _mm256_loadu_ps(x); };
  if (kAhead)
    for (int s = 0; s < NB; ++s) _mm_prefetch((const char*)(bj[s] + p + 512), _MM_HINT_T0);
  for (int r = 0; r < 2; ++r) {
    const __m256 al = load(ai[r] + p, ml), ah = load(ai[r] + p + 8, mh);
    for (int s = 0; s < NB; ++s) {
      lo[r][s] = _mm256_fmadd_ps(al, load(bj[s] + p, ml), lo[r][s]);
      hi[r][s] = _mm256_fmadd_ps(ah, load(bj[s] + p + 8, mh), hi[r][s]);
    }
  }
}

// *c = dot + beta *c (beta 0: *c not read).
inline void store_dot(float dot, float beta, float* c) { *c = beta != 0.0f ? std::fma(beta, *c, dot) : dot; }

// *c = the 16 lanes of its dot product summed as the AVX-512 kernel sums them, beta applied.
inline void finish(__m256 lo, __m256 hi, float beta, float* c) { store_dot(sum16(lo, hi), beta, c); }

// C[i0.., j0..] (mr x NB, mr <= 2, the last rows of a partial tile repeated, not stored) of gemm_nt.
template <int NB, bool kAhead>
inline void nt_tile(int mr, int nr, int k, const float* const (&ai)[2], const float* const (&bj)[NB], float beta, float* c,
                    int ldc) {
  __m256 lo[2][NB], hi[2][NB];
  for (int r = 0; r < 2; ++r)
    for (int s = 0; s < NB; ++s) lo[r][s] = hi[r][s] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 16 <= k; p += 16) nt_step<false, NB, kAhead>(ai, bj, p, lo, hi);
  if (p < k) nt_step<true, NB>(ai, bj, p, lo, hi, k);  // lanes past k add 0 * 0
  for (int r = 0; r < mr; ++r)
    for (int s = 0; s < nr; ++s) finish(lo[r][s], hi[r][s], beta, c + (size_t)r * ldc + s);
}

template <bool kAhead>
void nt_tiles(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  // 2x3 tiles of C (12 accumulators: more independent FMA chains than the FMA latency needs), then
  // 2x2 for the last columns; each dot product keeps the AVX-512 kernel's 16 lanes as two halves.
  int j0 = 0;
  for (; j0 + 3 <= n; j0 += 3) {
    const float* bj[3] = {b + (size_t)j0 * ldb, b + (size_t)(j0 + 1) * ldb, b + (size_t)(j0 + 2) * ldb};
    for (int i0 = 0; i0 < m; i0 += 2) {
      const int mr = std::min(2, m - i0);
      const float* ai[2] = {a + (size_t)i0 * lda, a + (size_t)(i0 + mr - 1) * lda};
      nt_tile<3, kAhead>(mr, 3, k, ai, bj, beta, c + (size_t)i0 * ldc + j0, ldc);
    }
  }
  for (; j0 < n; j0 += 2) {
    const int nr = std::min(2, n - j0);
    const float* bj[2] = {b + (size_t)j0 * ldb, b + (size_t)(j0 + nr - 1) * ldb};
    for (int i0 = 0; i0 < m; i0 += 2) {
      const int mr = std::min(2, m - i0);
      const float* ai[2] = {a + (size_t)i0 * lda, a + (size_t)(i0 + mr - 1) * lda};
      nt_tile<2, kAhead>(mr, nr, k, ai, bj, beta, c + (size_t)i0 * ldc + j0, ldc);
    }
  }
}

// One half (8 lanes) of the 4 x 3 dot products of rows ai and bj, h floats of halves rows: B's 3
// vectors held while each row of A passes, 7 loads per 12 FMAs (the 2 x 3 tile above needs 16,
// and two 256-bit loads a cycle then bound it before the FMAs do).
inline __attribute__((always_inline)) void half_tile(const float* const (&ai)[4], const float* const (&bj)[3], int h,
                                                     __m256 (&acc)[4][3]) {
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) acc[r][s] = _mm256_setzero_ps();
  for (int p = 0; p < h; p += 8) {
    __m256 bv[3];
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) bv[s] = _mm256_loadu_ps(bj[s] + p);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256 av = _mm256_loadu_ps(ai[r] + p);
#pragma GCC unroll 3
      for (int s = 0; s < 3; ++s) acc[r][s] = _mm256_fmadd_ps(av, bv[s], acc[r][s]);
    }
  }
}

// dst (8 rows ldd apart) = the 8x8 block src (8 rows lds apart), transposed. Rows i and i + 4
// share a register (128-bit loads), so each half is a 4x4 transpose within lanes: 16 shuffles.
inline void transpose8x8(const float* src, size_t lds, float* dst, size_t ldd) {
  __m256 r[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {  // r[i]: columns 0..3 of rows i | i+4; r[i+4]: columns 4..7
    const float* lo = src + i * lds;
    const float* hi = src + (i + 4) * lds;
    r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
    r[i + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo + 4)), _mm_loadu_ps(hi + 4), 1);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 8; h += 4) {  // columns h..h+3
    const __m256 t0 = _mm256_unpacklo_ps(r[h], r[h + 1]), t1 = _mm256_unpackhi_ps(r[h], r[h + 1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[h + 2], r[h + 3]), t3 = _mm256_unpackhi_ps(r[h + 2], r[h + 3]);
    _mm256_storeu_ps(dst + h * ldd, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm256_storeu_ps(dst + (h + 1) * ldd, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
    _mm256_storeu_ps(dst + (h + 2) * ldd, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm256_storeu_ps(dst + (h + 3) * ldd, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
  }
}

}  // namespace

void gemm_packed(int m, int n, int k, const float* packed_a, const float* b, int ldb, float beta, float* c, int ldc) {
  if (avx512::c_in_memory(m, n, k)) {
    const bool stream = avx512::c_streams(m, n, k, beta, c, ldc);
    packed_c_in_memory(m, n, k, packed_a, b, ldb, beta, c, ldc, stream);
    if (stream) _mm_sfence();  // streaming stores are weakly ordered: finish them before C is read
    return;
  }
  // B in memory: full 24-column strips avx512::kSubK rows at a time (micro_4xv<kCarry>), the rest whole.
  const int n_carry = avx512::b_in_memory(m, n, k) ? n / 24 * 24 : 0;
  thread_local std::vector<float> carry;
  if (n_carry) carry.resize((size_t)n_carry * kMr);
  for (int p0 = 0; p0 < k; p0 += kKc) {
    const int kc = std::min(kKc, k - p0);
    const float block_beta = p0 == 0 ? beta : 1.0f;
    const float* ak = packed_a + (size_t)p0 * kMr;  // this k block of every panel
    const float* bk = b + (size_t)p0 * ldb;
    for (int s0 = 0; s0 < kc && n_carry; s0 += avx512::kSubK) {
      const int sub = std::min(avx512::kSubK, kc - s0);
      for (int j0 = 0; j0 < n_carry; j0 += 24)
        for (int r0 = 0; r0 < m; r0 += 4)
          micro_4xv<3, true>(sub, ak + (size_t)s0 * kMr, r0, bk + (size_t)s0 * ldb + j0, ldb, m, block_beta, c + j0, ldc,
                             carry.data() + (size_t)j0 * kMr, s0 == 0, s0 + sub == kc);
    }
    packed_block(m, n - n_carry, k, kc, ak, bk + n_carry, ldb, block_beta, c + n_carry, ldc);
  }
}

void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  (avx512::b_in_memory(m, n, k) ? nt_tiles<true> : nt_tiles<false>)(m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void gemm_nt_halves(int m, int n, int h, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  // The low halves of every tile first, their sum16 groups kept in `low` (3 vectors for 12 dot
  // products, groups4), then the high halves, which finish the dot products 4 at a time (fewer
  // shuffles than sum16 one by one: the statistics' products 1-3% faster, AMD EPYC, same bits):
  // every pass reads whole 64-byte lines. Per half, the 3 rows of B of a tile column stay in L1
  // while the quads of A (16 rows in the statistics' calls) pass from L2: B, all the rows right of
  // the block there, often past L2, is read once per half rather than once per quad (in-pass
  // statistics ~4% faster, AMD EPYC). Rows past m or n repeat the last one, not stored.
  const int quads = (m + 3) / 4, triples = (n + 2) / 3;
  thread_local std::vector<float> low_buf;
  low_buf.resize((size_t)quads * triples * 3 * 8 + 8);
  float* low = low_buf.data() + (8 - reinterpret_cast<uintptr_t>(low_buf.data()) / 4 % 8) % 8;  // 32-byte aligned
  for (int half = 0; half < 2; ++half)
    for (int t = 0; t < triples; ++t) {
      const int j0 = 3 * t, nr = std::min(3, n - j0);
      const float* bj[3];
      for (int s = 0; s < 3; ++s) bj[s] = b + (size_t)(j0 + std::min(s, nr - 1)) * ldb + half * h;
      for (int q = 0; q < quads; ++q) {
        const int i0 = 4 * q, mr = std::min(4, m - i0);
        const float* ai[4];
        for (int r = 0; r < 4; ++r) ai[r] = a + (size_t)(i0 + std::min(r, mr - 1)) * lda + half * h;
        __m256 acc[4][3];
        half_tile(ai, bj, h, acc);
        const __m256* x = &acc[0][0];  // dot product e = 3r + s; groups4 takes them 4 at a time
        float* kept = low + ((size_t)q * triples + t) * 3 * 8;
        if (half == 0) {
          for (int g = 0; g < 3; ++g) _mm256_store_ps(kept + 8 * g, groups4(x + 4 * g));
          continue;
        }
        alignas(16) float dots[12];
        for (int g = 0; g < 3; ++g)
          _mm_store_ps(dots + 4 * g, sum4_of_groups(_mm256_load_ps(kept + 8 * g), groups4(x + 4 * g)));
        for (int r = 0; r < mr; ++r)
          for (int s = 0; s < nr; ++s) store_dot(dots[3 * r + s], beta, c + (size_t)(i0 + r) * ldc + j0 + s);
      }
    }
}

void transpose(int rows, int cols, const float* src, size_t lds, float* dst, size_t ldd) {
  // Column blocks outside, row blocks inside: dst is written row after row (faster than the
  // other order by a third where src is a tall matrix in L2).
  const int rows8 = rows / 8 * 8;
  int j0 = 0;
  for (; j0 + 8 <= cols; j0 += 8)
    for (int i0 = 0; i0 < rows8; i0 += 8) transpose8x8(src + i0 * lds + j0, lds, dst + j0 * ldd + i0, ldd);
  for (; j0 < cols; ++j0)
    for (int i = 0; i < rows8; ++i) dst[j0 * ldd + i] = src[i * lds + j0];
  for (int i = rows8; i < rows; ++i)
    for (int j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

}  // namespace cvg::cpu::avx2
