// CPU twin of the statistics family. Moments: shifted values packed into a run of at most
// kStatsRunSamples samples ([unit, sample] layout, so runs may cross image boundaries), one
// A B^T product per run (kernels/gemm.h) into a float32 partial, then added into float64 in run
// order. accumulate_stacked (the Grams and crosses of several nets in one pass) is what
// MomentAccumulator runs; accumulate_gram is its one-net case.

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/joint_hist_avx512.h"
#include "kernels/stats.h"

namespace cvg::cpu {

namespace {

// Threads: only OpenMP (the engine's one pool: kernels/gemm.h says why). A moment call opens
// ONE parallel region for all its runs (waking a sleeping pool costs more than a small run's
// work), and the steps of a run share it out with orphaned `omp for`s, which run serially when
// called outside a region. Called from a parallel region, a moment call runs on its own thread.
// The joint histogram, whose work is ca*cb times its data, runs its own
// loop over unit pairs.
constexpr size_t kParallelMin = 1 << 22;

void check_bins(int bins) {
  if (bins < 2 || bins > kStatsMaxBins)
    throw std::logic_error("stats: bins must be in 2.." + std::to_string(kStatsMaxBins) + ", got " + std::to_string(bins));
}

// Samples per run: as equal as the runs can be, in multiples of 16 floats (64-byte rows for the
// product kernels' loads), and an even number of runs when there is more than one, so that two
// threads get the same work (3136 samples: 1568 + 1568, not 2048 + 1088). A function of the batch
// only: no thread count changes a run, hence a bit.
size_t run_length(int n, int hw) {
  const size_t K = (size_t)n * hw;
  size_t runs = std::max<size_t>(1, (K + kStatsRunSamples - 1) / kStatsRunSamples);
  if (runs > 1) runs += runs % 2;
  return std::max<size_t>(1, ((K + runs - 1) / runs + 15) / 16 * 16);
}

// Float64 sums of float32 values and of their squares in 16 lanes (a value's lane: its index mod
// 16 in the span added), four 4-double vectors each: eight independent chains of adds, where one
// chain per sum would wait on each add. Totals add the lanes in order. (Vector types: plain loops
// over lane arrays vectorised into scalar and 128-bit pieces.)
struct LaneSums {
  typedef float f4 __attribute__((vector_size(16)));
  typedef double d4 __attribute__((vector_size(32)));
  d4 s1[4] = {}, s2[4] = {};
  // out[t] = src[t] - r (float32) for t < len, each difference added to its lane (out may be src).
  // ahead > 0: src + ahead is read next, requested a line per 16 values (pack_units: the next unit).
  void add(const float* src, float r, float* out, size_t len, size_t ahead = 0) {
    size_t t = 0;
    // 8 floats a step where GCC would keep the f4 loop at 128 bits; s2 by FMA, as GCC contracts it there.
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 vr = _mm256_set1_ps(r);
    for (; t + 16 <= len; t += 16) {
      if (ahead) _mm_prefetch((const char*)(src + t + ahead), _MM_HINT_T0);
      for (int h = 0; h < 2; ++h) {
        const __m256 f = _mm256_sub_ps(_mm256_loadu_ps(src + t + 8 * h), vr);
        _mm256_storeu_ps(out + t + 8 * h, f);
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(f)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
        s1[2 * h] += (d4)lo, s1[2 * h + 1] += (d4)hi;
        s2[2 * h] = (d4)_mm256_fmadd_pd(lo, lo, (__m256d)s2[2 * h]);
        s2[2 * h + 1] = (d4)_mm256_fmadd_pd(hi, hi, (__m256d)s2[2 * h + 1]);
      }
    }
#else
    for (; t + 16 <= len; t += 16) {
      if (ahead) _mm_prefetch((const char*)(src + t + ahead), _MM_HINT_T0);
      for (int q = 0; q < 4; ++q) {
        f4 f;
        std::memcpy(&f, src + t + 4 * q, sizeof f);
        f -= r;
        std::memcpy(out + t + 4 * q, &f, sizeof f);
#ifdef __AVX__  // one 256-bit conversion; GCC lowers __builtin_convertvector to two 128-bit ones and a shuffle
        const d4 d = (d4)_mm256_cvtps_pd((__m128)f);
#else
        const d4 d = __builtin_convertvector(f, d4);
#endif
        s1[q] += d, s2[q] += d * d;
      }
    }
#endif
    for (int l = 0; t + l < len; ++l) {
      const float f = src[t + l] - r;
      out[t + l] = f;
      const double d = f;
      s1[l / 4][l % 4] += d, s2[l / 4][l % 4] += d * d;
    }
  }
  void totals(double* t1, double* t2) const {
    double a = 0, b = 0;
    for (int l = 0; l < 16; ++l) a += s1[l / 4][l % 4], b += s2[l / 4][l % 4];
    *t1 = a, *t2 = b;
  }
};

// Row u - u0 of out (ld floats apart) = x_u(s0 + j) - shift[u] for units u0 <= u < u1 and the L
// samples j starting at sample s0; plain (at j), or in halves of h floats when h > 0 (to_halves,
// kernels/gemm.h: conv only); s1[u - u0] / s2[u - u0] = the LaneSums totals of the differences.
// Conv (hw > 1): unit by unit, so each row is written in order (image by image, which reads
// contiguously, packed ~1.7x slower at hw = 49), each segment shifted, stored and summed in one
// pass while the next unit's segment is requested (a unit's data are runs of hw floats, too short
// for the hardware prefetcher to fetch in time: conv1, hw = 784, ~11% faster); fc
// (accumulate_cross's; accumulate_stacked packs fc layers with pack_samples): the block
// transposed, then each row summed. Serial.
constexpr int kPackUnits = 32;
void pack_units(int c, int hw, const float* x, const float* shift, int u0, int u1, size_t s0, size_t L, float* out, size_t ld,
                int h, double* s1, double* s2) {
  if (hw == 1)  // fc: sample j is row s0 + j of [n, c]
    for (size_t j = 0; j < L; ++j) {
      const float* src = x + (s0 + j) * (size_t)c;
      for (int u = u0; u < u1; ++u) out[(size_t)(u - u0) * ld + j] = src[u] - (shift ? shift[u] : 0.0f);
    }
  thread_local std::vector<float> plain;  // a row before it goes into halves
  if (h > 0) plain.resize(L);
  for (int u = u0; u < u1; ++u) {
    const float r = shift ? shift[u] : 0.0f;
    float* row = out + (size_t)(u - u0) * ld;
    float* o = h > 0 ? plain.data() : row;
    LaneSums sums;
    if (hw == 1) sums.add(o, 0.0f, o, L);
    for (size_t s = s0, j = 0; hw > 1 && j < L;) {
      const size_t img = s / hw, pos = s - img * hw;
      const size_t len = std::min(L - j, (size_t)hw - pos);
      sums.add(x + (img * c + u) * (size_t)hw + pos, r, o + j, len, u + 1 < u1 ? hw : 0);
      j += len;
      s += len;
    }
    sums.totals(s1 + (u - u0), s2 + (u - u0));
    if (h > 0) to_halves(o, (int)L, row, h);
  }
}

// The stacked fc layout (hw = 1), [sample, stacked unit]: out[j*ld + u - u0] = x[s0 + j, u] - shift[u]
// for units u0 <= u < u1 (at most kPackUnits) and the L samples from s0, rows of x copied with their
// shifts; s1 / s2 as pack_units, each unit's sums in sample order. Serial.
void pack_samples(int c, const float* x, const float* shift, int u0, int u1, size_t s0, size_t L, float* out, size_t ld, double* s1,
                  double* s2) {
  double t1[kPackUnits] = {}, t2[kPackUnits] = {};
  const int m = u1 - u0;
  for (size_t j = 0; j < L; ++j) {
    const float* src = x + (s0 + j) * (size_t)c + u0;
    float* o = out + j * ld;
    for (int u = 0; u < m; ++u) {
      const float d = src[u] - (shift ? shift[u0 + u] : 0.0f);
      o[u] = d;
      t1[u] += d, t2[u] += (double)d * d;
    }
  }
  for (int u = 0; u < m; ++u) s1[u] = t1[u], s2[u] = t2[u];
}

// pack_units for all c units (differences only), blocks of 32 shared out (orphaned `omp for`).
void pack_run(int c, int hw, const float* x, const float* shift, size_t s0, size_t L, float* out) {
  constexpr int T = kPackUnits;
#pragma omp for schedule(static)
  for (int u0 = 0; u0 < c; u0 += T) {
    double s1[T], s2[T];
    pack_units(c, hw, x, shift, u0, std::min(c, u0 + T), s0, L, out + (size_t)u0 * L, L, 0, s1, s2);
  }
}

// Rows of A per gemm_nt call in the moment products. Under 32 rows gemm_nt takes its dot-product
// tiles, whose every entry has the same arithmetic wherever it sits in a call: so the block shapes
// change no bits, and the tiles ran faster here than the packed kernels (alexnet-mini's layers,
// 4096-sample runs then: 10.1 vs 12.7 ms per two-net batch, one thread). accumulate_stacked doubles
// it from 256 stacked units on, where the packed kernels win.
constexpr int kProductRows = 16;

// partial[m x n] = a[m x L] b[n x L]^T, blocks of kProductRows rows shared out. Each entry is one
// dot product whatever the split, so the result does not depend on the thread count.
void run_products(int m, int n, size_t L, const float* a, const float* b, float* partial) {
  const int blocks = (m + kProductRows - 1) / kProductRows;
#pragma omp for schedule(dynamic, 1)
  for (int bi = 0; bi < blocks; ++bi) {
    const int i0 = bi * kProductRows, rows = std::min(kProductRows, m - i0);
    gemm_nt(rows, n, (int)L, a + (size_t)i0 * L, (int)L, b, (int)L, 0.0f, partial + (size_t)i0 * n, n);
  }
}

}  // namespace

void accumulate_sums(int n, int c, int hw, const float* x, const float* shift, double* sum, double* sum_sq) {
  for (int u = 0; u < c; ++u) {
    const float r = shift ? shift[u] : 0.0f;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const float* row = x + ((size_t)i * c + u) * hw;
#pragma omp simd reduction(+ : s, s2)
      for (int p = 0; p < hw; ++p) {
        const double d = row[p] - r;
        s += d, s2 += d * d;
      }
    }
    if (sum) sum[u] += s;
    if (sum_sq) sum_sq[u] += s2;
  }
}

size_t cross_scratch_bytes(int n, int ca, int cb, int hw) {
  const size_t L = run_length(n, hw);
  return sizeof(float) * ((size_t)ca * cb + (size_t)(ca + cb) * L);
}

void accumulate_cross(int n, int ca, int cb, int hw, const float* a, const float* shift_a, const float* b, const float* shift_b,
                      void* scratch, double* cross) {
  const size_t K = (size_t)n * hw, Lmax = run_length(n, hw);
  if (K == 0 || ca == 0 || cb == 0) return;
  float* partial = static_cast<float*>(scratch);
  float* ra = partial + (size_t)ca * cb;
  float* rb = ra + (size_t)ca * Lmax;
  const size_t cells = (size_t)ca * cb;
#pragma omp parallel if (cells * K >= kParallelMin && !omp_in_parallel())
  for (size_t s0 = 0; s0 < K; s0 += Lmax) {  // every thread walks the runs; the steps are shared
    const size_t L = std::min(Lmax, K - s0);
    pack_run(ca, hw, a, shift_a, s0, L, ra);
    pack_run(cb, hw, b, shift_b, s0, L, rb);
    run_products(ca, cb, L, ra, rb, partial);
#pragma omp for simd schedule(static)
    for (size_t e = 0; e < cells; ++e) cross[e] += partial[e];
  }
}

// ---- stacked moments ----

namespace {

bool plain_rows_forced = false;  // stats_force_plain_rows

// A group of runs is multiplied, then flushed into float64 together (a flush costs two barriers,
// each a futex wake-up under OMP_WAIT_POLICY=passive): as many runs as their float32 partials and
// sums fit in kGroupBytes, and at least one per thread. No bit depends on the grouping (the flush
// goes in run order). Each thread packs into a buffer of its own.
constexpr size_t kGroupBytes = 4u << 20;

size_t run_slot_bytes(int S) { return 2 * sizeof(double) * S + sizeof(float) * (size_t)S * S; }

int group_runs(int n, int hw, int S) {
  const size_t K = (size_t)n * hw, L = run_length(n, hw), runs = (K + L - 1) / L;
  const size_t fit = std::max<size_t>(omp_get_max_threads(), kGroupBytes / run_slot_bytes(S));
  return (int)std::max<size_t>(1, std::min(runs, fit));
}

}  // namespace

size_t stacked_scratch_bytes(int n, int hw, const std::vector<int>& units) {
  int S = 0;
  for (int c : units) S += c;
  if ((size_t)n * hw == 0 || S == 0) return 0;
  return group_runs(n, hw, S) * run_slot_bytes(S) + sizeof(float) * omp_get_max_threads() * S * run_length(n, hw);
}

void accumulate_stacked(int n, int hw, const StackedNets& nets, void* scratch) {
  const int k = (int)nets.units.size();
  std::vector<int> off(k + 1, 0);  // stacked row of each net's first unit
  for (int p = 0; p < k; ++p) off[p + 1] = off[p] + nets.units[p];
  const int S = off[k];
  const size_t K = (size_t)n * hw, Lmax = run_length(n, hw);
  if (K == 0 || S == 0) return;
  const int G = group_runs(n, hw, S);
  // Scratch: per run of a group its s1, s2 [S] doubles, then its partial [S x S] floats; then a
  // packed [S x L] buffer per thread.
  double* sums = static_cast<double*>(scratch);
  float* partials = reinterpret_cast<float*>(sums + 2 * (size_t)G * S);
  float* packed = partials + (size_t)G * S * S;
  // Pack items: blocks of up to 32 units of one net.
  struct Units {
    int p, u0, u1;
  };
  auto unit_blocks = [&](int width) {
    std::vector<Units> out;
    for (int p = 0; p < k; ++p)
      for (int u0 = 0; u0 < nets.units[p]; u0 += width) out.push_back({p, u0, std::min(nets.units[p], u0 + width)});
    return out;
  };
  const std::vector<Units> blocks = unit_blocks(kPackUnits);
  // Flush items: blocks of 8 rows, so that the mirror writes a whole 64-byte line of each row below.
  const std::vector<Units> flush_blocks = unit_blocks(8);
  // Row blocks of 16 keep the dot-product tiles; from 256 stacked units on (CaffeNet), blocks of 32
  // rows take gemm_nt's packed kernels, ~1.4x faster there. Fixed by S, so no thread count changes a bit.
  const int R = S >= 256 ? 2 * kProductRows : kProductRows;
  const int nb = (S + R - 1) / R, npack = (int)blocks.size();
  // Conv rows go in halves where that pays (the AVX2 kernels: gemm_nt_halves, kernels/gemm.h), the
  // same sums as gemm_nt's dot products; not under the packed kernels' 32-row blocks, which read
  // plain rows. Row stride Lmax either way.
  const bool halves = hw > 1 && R == kProductRows && nt_halves_pays() && !plain_rows_forced;
  const int ld = (int)Lmax;
  auto half_of = [halves](size_t L) { return halves ? (int)(L + 15) / 16 * 8 : 0; };  // floats per half of a run's row
  auto pair_index = [k](int p, int q) { return p * k - p * (p + 1) / 2 + (q - p - 1); };
#pragma omp parallel if ((size_t)S * S * K >= kParallelMin && !omp_in_parallel())
  for (size_t g0 = 0; g0 < K; g0 += (size_t)G * Lmax) {  // every thread walks the groups; the steps are shared
    if (g0 > 0) {  // the previous group's flush must be done before its buffers are refilled
#pragma omp barrier
    }
    const int runs = (int)std::min<size_t>(G, (K - g0 + Lmax - 1) / Lmax);
    auto run_len = [&](int g) { return std::min(Lmax, K - g0 - g * Lmax); };
    // A run's buffer: conv [stacked unit, sample] rows for gemm_nt's dot products; fc [sample,
    // stacked unit] rows, x's own layout, which the packed kernels read without transposing it.
    auto pack = [&](int g, const Units& b, float* buf) {
      const int row = off[b.p] + b.u0;
      const size_t s0 = g0 + g * Lmax, L = run_len(g);
      double *s1 = sums + (size_t)g * 2 * S + row, *s2 = s1 + S;
      if (hw == 1) return pack_samples(nets.units[b.p], nets.x[b.p], nets.shift[b.p], b.u0, b.u1, s0, L, buf + row, S, s1, s2);
      pack_units(nets.units[b.p], hw, nets.x[b.p], nets.shift[b.p], b.u0, b.u1, s0, L, buf + (size_t)row * ld, ld,
                 half_of(L), s1, s2);
    };
    // Row block i0 of run g's products. Conv: right of the diagonal block in one gemm_nt; the
    // diagonal block by 4-row strips (gemm_nt's tile height) from their own diagonal on, so few
    // entries below the diagonal are computed. Fc: columns i0.. of the buffer, transposed as the
    // left operand, times the same columns, diagonal block whole.
    auto products = [&](int g, int i0, const float* x) {
      const int rows = std::min(R, S - i0), L = (int)run_len(g);
      float* out = partials + (size_t)g * S * S;
      if (hw == 1) return GemmLhs(true, rows, L, x + i0, S).times(S - i0, x + i0, S, 0.0f, out + (size_t)i0 * S + i0, S);
      auto nt = [&](int m, int cols, int i, int j) {  // out[i.., j..] = rows i.. times rows j..
        const float *a = x + (size_t)i * ld, *b = x + (size_t)j * ld;
        if (halves) return gemm_nt_halves(m, cols, half_of(L), a, ld, b, ld, 0.0f, out + (size_t)i * S + j, S);
        gemm_nt(m, cols, L, a, ld, b, ld, 0.0f, out + (size_t)i * S + j, S);
      };
      if (i0 + rows < S) nt(rows, S - i0 - rows, i0, i0 + rows);
      for (int d0 = i0; d0 < i0 + rows; d0 += 4) nt(std::min(4, i0 + rows - d0), i0 + rows - d0, d0, d0);
    };
    if (runs >= omp_get_num_threads()) {  // whole runs: packed and multiplied by one thread, in its cache
      // Blocks packed from the last row up, each followed by the row blocks that now have all their
      // rows (row block i0 reads rows i0..S-1): the reads from memory are spread over the run
      // rather than all at its start, when the other threads would be reading too.
      float* buf = packed + (size_t)omp_get_thread_num() * S * Lmax;
#pragma omp for schedule(dynamic, 1)
      for (int g = 0; g < runs; ++g) {
        int i0 = (S - 1) / R * R;
        for (int b = npack - 1; b >= 0; --b) {
          pack(g, blocks[b], buf);
          for (; i0 >= off[blocks[b].p] + blocks[b].u0; i0 -= R) products(g, i0, buf);
        }
      }
    } else {  // fewer runs than threads: run g in buffer g; pack blocks, then row blocks (the widest first) shared out
#pragma omp for schedule(dynamic, 1)
      for (int it = 0; it < runs * npack; ++it) pack(it / npack, blocks[it % npack], packed + (size_t)(it / npack) * S * Lmax);
#pragma omp for schedule(dynamic, 1)
      for (int it = 0; it < runs * nb; ++it) products(it % runs, (it / runs) * R, packed + (size_t)(it % runs) * S * Lmax);
    }
    // Flush, a block of rows of one net by one thread, every entry run by run: row i of the block
    // is the net's Gram row i from the diagonal on and its crosses' row i, then the block's columns
    // of the Gram below the diagonal are the mirror; no other block touches them. No barrier after
    // it: the region's end, or the next group's first one, waits for it.
#pragma omp for schedule(static, 1) nowait
    for (int fb = 0; fb < (int)flush_blocks.size(); ++fb) {
      const int p = flush_blocks[fb].p, i0 = flush_blocks[fb].u0, i1 = flush_blocks[fb].u1, cp = nets.units[p];
      double* gram = nets.gram[p];
      for (int i = i0; i < i1; ++i) {
        const int I = off[p] + i;
        for (int g = 0; g < runs; ++g) {
          const float* row = partials + (size_t)g * S * S + (size_t)I * S;
          const double* s = sums + (size_t)g * 2 * S;
          if (nets.sum[p]) nets.sum[p][i] += s[I];
          if (nets.sum_sq[p]) nets.sum_sq[p][i] += s[S + I];
          const float* src = row + off[p];
          double* gram_row = gram + (size_t)i * cp;
#pragma omp simd
          for (int j = i; j < cp; ++j) gram_row[j] += src[j];
          for (int q = p + 1; q < k; ++q) {
            double* cross = nets.cross[pair_index(p, q)] + (size_t)i * nets.units[q];
            const float* src_q = row + off[q];
#pragma omp simd
            for (int j = 0; j < nets.units[q]; ++j) cross[j] += src_q[j];
          }
        }
      }
      for (int j = i0 + 1; j < cp; ++j)
        for (int i = i0; i < std::min(i1, j); ++i) gram[(size_t)j * cp + i] = gram[(size_t)i * cp + j];
    }
  }
}

void stats_force_plain_rows(bool on) { plain_rows_forced = on; }

size_t gram_scratch_bytes(int n, int c, int hw) { return stacked_scratch_bytes(n, hw, {c}); }

void accumulate_gram(int n, int c, int hw, const float* x, const float* shift, void* scratch, double* gram, double* sum,
                     double* sum_sq) {
  accumulate_stacked(n, hw, StackedNets{{c}, {x}, {shift}, {gram}, {sum}, {sum_sq}, {}}, scratch);
}

void recenter_cross(int ca, int cb, double count, const double* sum_a, const double* delta_a, const double* sum_b,
                    const double* delta_b, double* cross) {
  for (int i = 0; i < ca; ++i)
    for (int j = 0; j < cb; ++j)
      cross[(size_t)i * cb + j] += delta_a[i] * sum_b[j] + sum_a[i] * delta_b[j] + count * (delta_a[i] * delta_b[j]);
}

void recenter_sums(int c, double count, const double* delta, double* sum) {
  for (int u = 0; u < c; ++u) sum[u] += count * delta[u];
}

void compute_bins(int n, int c, int hw, const float* x, const float* edges, int bins, uint8_t* out) {
  check_bins(bins);
  const size_t rows = (size_t)n * c;
  for (size_t r = 0; r < rows; ++r) {
    const float* e = edges + (r % c) * (size_t)(bins - 2);
    const float* src = x + r * hw;
    uint8_t* dst = out + r * hw;
    for (int p = 0; p < hw; ++p) dst[p] = (uint8_t)stats_bin_of(src[p], e, bins);
  }
}

void accumulate_marginal_hist(int n, int c, int hw, const uint8_t* bins_x, int bins, uint64_t* counts) {
  check_bins(bins);
  for (int u = 0; u < c; ++u) {
    uint64_t h[kStatsMaxBins] = {};
    for (int i = 0; i < n; ++i) {
      const uint8_t* row = bins_x + ((size_t)i * c + u) * hw;
      for (int p = 0; p < hw; ++p) ++h[row[p]];
    }
    for (int k = 0; k < bins; ++k) counts[(size_t)u * bins + k] += h[k];
  }
}

namespace {
void check_joint_hist(int n, int hw, int bins) {  // both paths' preconditions
  check_bins(bins);
  if ((uint64_t)n * hw >= (1ull << 32)) throw std::logic_error("accumulate_joint_hist: batch has 2^32 samples or more");
}
}  // namespace

void accumulate_joint_hist(int n, int ca, int cb, int hw, const uint8_t* bins_a, const uint8_t* bins_b, int bins,
                           uint64_t* counts) {
  static const bool bit_planes = avx512::has_joint_hist();
  if (!bit_planes) return accumulate_joint_hist_portable(n, ca, cb, hw, bins_a, bins_b, bins, counts);
  check_joint_hist(n, hw, bins);
  avx512::accumulate_joint_hist(n, ca, cb, hw, bins_a, bins_b, bins, counts);
}

void accumulate_joint_hist_portable(int n, int ca, int cb, int hw, const uint8_t* bins_a, const uint8_t* bins_b, int bins,
                                    uint64_t* counts) {
  check_joint_hist(n, hw, bins);
  const int cells = bins * bins;
  // Images in groups of ~16k samples, so the rows of unit i stay in cache while every j is visited.
  const int group = std::max(1, 16384 / std::max(hw, 1));
  const int groups = (n + group - 1) / group;
  // Bin 0 is the exact zero, where most ReLU samples fall: only the samples where a_i is not 0 are
  // visited, and row 0 of the table follows from b_j's marginal in the group, the same integers.
  std::vector<uint64_t> marg_b((size_t)groups * cb * bins, 0);  // [group][j][bin]
  for (int g = 0; g < groups; ++g)
    accumulate_marginal_hist(std::min(n, (g + 1) * group) - g * group, cb, hw, bins_b + (size_t)g * group * cb * hw, bins,
                             &marg_b[(size_t)g * cb * bins]);
#pragma omp parallel if ((size_t)n * ca * cb * hw >= kParallelMin)
  {
    std::vector<size_t> where;  // per sample of a_i not in bin 0: its offset in image 0's b_0 row layout
    std::vector<uint8_t> bin_a;  // and a_i's bin there
#pragma omp for schedule(dynamic)
    for (int i = 0; i < ca; ++i) {
      // Four interleaved sub-histograms break the store->load chain on a popular cell.
      uint32_t h[4][kStatsMaxBins * kStatsMaxBins];
      for (int g = 0; g < groups; ++g) {
        const int g0 = g * group, g1 = std::min(n, g0 + group);
        where.clear(), bin_a.clear();
        for (int img = g0; img < g1; ++img) {
          const uint8_t* ra = bins_a + ((size_t)img * ca + i) * hw;
          for (int p = 0; p < hw; ++p)
            if (ra[p] != 0) where.push_back((size_t)(img - g0) * cb * hw + p), bin_a.push_back(ra[p]);
        }
        const uint8_t* b0 = bins_b + (size_t)g0 * cb * hw;
        const size_t m = where.size();
        for (int j = 0; j < cb; ++j) {
          std::memset(h, 0, sizeof(h));
          const uint8_t* bj = b0 + (size_t)j * hw;
          for (size_t t = 0; t < m; ++t) ++h[t & 3][bin_a[t] * bins + bj[where[t]]];
          uint64_t* dst = counts + ((size_t)i * cb + j) * cells;
          const uint64_t* mb = &marg_b[((size_t)g * cb + j) * bins];
          for (int kb = 0; kb < bins; ++kb) {
            uint32_t nonzero_a = 0;  // samples of b_j's bin kb where a_i is not 0
            for (int ka = 1; ka < bins; ++ka) {
              const int e = ka * bins + kb;
              const uint32_t c = h[0][e] + h[1][e] + h[2][e] + h[3][e];
              dst[e] += c, nonzero_a += c;
            }
            dst[kb] += mb[kb] - nonzero_a;
          }
        }
      }
    }
  }
}

void gather_samples(int n, int c, int hw, const float* x, int count, const int* index, int capacity, int offset, float* out) {
  for (int u = 0; u < c; ++u)
    for (int j = 0; j < count; ++j) {
      const size_t s = (size_t)index[j], img = s / hw, pos = s - img * hw;
      out[(size_t)u * capacity + offset + j] = x[(img * c + u) * hw + pos];
    }
}

void unit_max_per_image(int n, int c, int hw, const float* x, float* max_val, int* argmax) {
  const size_t rows = (size_t)n * c;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * hw;
    float best = -INFINITY;
    int at = INT_MAX;
    for (int p = 0; p < hw; ++p)
      if (row[p] > best || (row[p] == best && p < at)) best = row[p], at = p;
    max_val[r] = best;
    argmax[r] = at == INT_MAX ? -1 : at;
  }
}

void topk_reset(int c, int k, float* val, int* image, int* pos) {
  for (size_t e = 0; e < (size_t)c * k; ++e) val[e] = -INFINITY, image[e] = -1, pos[e] = -1;
}

void topk_merge(int n, int c, int k, const float* max_val, const int* argmax, int image_id0, float* val, int* image, int* pos) {
  if (k < 1 || k > kStatsMaxTopK) throw std::logic_error("topk_merge: k must be in 1.." + std::to_string(kStatsMaxTopK));
  for (int u = 0; u < c; ++u) {
    float* v = val + (size_t)u * k;
    int* im = image + (size_t)u * k;
    int* ps = pos + (size_t)u * k;
    for (int i = 0; i < n; ++i) {
      const float cv = max_val[(size_t)i * c + u];
      const int ci = image_id0 + i, cp = argmax[(size_t)i * c + u];
      if (!topk_better(cv, ci, v[k - 1], im[k - 1])) continue;
      int at = k - 1;  // insertion sort: shift worse entries down one slot
      while (at > 0 && topk_better(cv, ci, v[at - 1], im[at - 1])) {
        v[at] = v[at - 1], im[at] = im[at - 1], ps[at] = ps[at - 1];
        --at;
      }
      v[at] = cv, im[at] = ci, ps[at] = cp;
    }
  }
}

}  // namespace cvg::cpu
