// Activation statistics, fed straight from the forward pass: moments (sums, Grams, between-net
// cross-products), binned histograms for mutual information, a deterministic value subsample for
// the bin edges, and the per-unit top-k images.
//
// Layout: activations are NCHW, x[n, c, h, w] with hw = h*w; a unit is a channel and every
// (image, position) is one sample, so a batch holds n*hw samples. An fc layer's [n, c] is the same
// with hw = 1. All pointers live on the twin's device (host for cpu::, GPU for cuda::).
//
// Accuracy scheme (moments). Accumulators are float64; the products are formed in float32 over
// short runs of samples only, then added into float64:
//  - every value is shifted by a per-unit reference `shift` chosen by the caller (the mean, or 0
//    for units with many exact zeros; see analysis/stats/moments.h: choose_shift), later moved with
//    recenter_*, so the float32 terms are O(std) rather than O(mean): no catastrophic
//    cancellation when mean >> std, and a ReLU's zeros stay exact zeros.
//  - a float32 partial never covers more than kStatsRunSamples (CPU) / kStatsGpuRun (GPU) samples
//    before it is added into float64, so its relative rounding error stays ~eps32*sqrt(run) ~ 1e-6
//    for one run and averages down across runs; float64 carries the rest.
// The caller recovers mean = shift + sum/N and cov = cross/N - (sum_a/N)(sum_b/N)^T in float64
// (analysis/stats/moments.h does this).
#pragma once
#include <vector>

#include "kernels/common.h"

namespace cvg {

// CPU: samples per float32 GEMM before the float64 flush; a packed run of two 96-unit nets (1.5 MB)
// stays in a 2 MB L2, at 4096 it did not (alexnet-mini's stats 11% slower).
constexpr int kStatsRunSamples = 2048;
constexpr int kStatsGpuRun = 256;       // GPU: samples per float32 register run before float64
constexpr int kStatsMaxBins = 16;       // histogram bins per unit (bin 0 holds exact zeros)
constexpr int kStatsMaxTopK = 32;

// Top-k order shared by both twins: a higher value wins, equal values go to the lower image id;
// an empty slot (image < 0) loses to everything.
CVG_HD bool topk_better(float v1, int img1, float v2, int img2) {
  if (img2 < 0) return img1 >= 0;
  if (img1 < 0) return false;
  return v1 > v2 || (v1 == v2 && img1 < img2);
}

// Histogram bin of a value: exact zero -> bin 0 (the ReLU's zeros get a bin of their own);
// otherwise 1 + the number of the unit's `bins - 2` ascending interior edges that are <= v,
// so bins 1..bins-1 hold the non-zero values. NaN lands in bin 1.
CVG_HD int stats_bin_of(float v, const float* unit_edges, int bins) {
  if (v == 0.0f) return 0;
  int b = 1;
  for (int e = 0; e < bins - 2; ++e) b += (v >= unit_edges[e]);
  return b;
}

#define CVG_STATS_TWIN_API                                                                                                      \
  /* ---- moments ---- */                                                                                                       \
  /* sum[u] += sum over samples of (x - shift[u]) and sum_sq[u] += sum of (x - shift[u])^2,   */                                \
  /* each skipped when null: float32 differences, float64 products and sums. shift may be null */                               \
  /* (zero). No scratch. */                                                                                                     \
  void accumulate_sums(int n, int c, int hw, const float* x, const float* shift, double* sum, double* sum_sq);                  \
  /* cross[i*cb + j] += sum over samples of (a_i - shift_a[i]) (b_j - shift_b[j]).            */                                \
  /* scratch: cross_scratch_bytes(...) bytes, 16-byte aligned (may be 0 -> scratch unused). */                                  \
  size_t cross_scratch_bytes(int n, int ca, int cb, int hw);                                                                    \
  void accumulate_cross(int n, int ca, int cb, int hw, const float* a, const float* shift_a, const float* b,                    \
                        const float* shift_b, void* scratch, double* cross);                                                    \
  /* The within-net Gram, cross of x with itself; computes one triangle, writes both halves   */                                \
  /* (the result is exactly symmetric). sum / sum_sq (may be null): as accumulate_sums, in the */                               \
  /* same pass over x. */                                                                                                       \
  size_t gram_scratch_bytes(int n, int c, int hw);                                                                              \
  void accumulate_gram(int n, int c, int hw, const float* x, const float* shift, void* scratch, double* gram, double* sum,      \
                       double* sum_sq);                                                                                         \
  /* Moving the reference from r_old to r_new, delta = r_old - r_new (float64), count = N so  */                                \
  /* far: cross += delta_a sum_b^T + sum_a delta_b^T + N delta_a delta_b^T (sums BEFORE their  */                               \
  /* own update, so call recenter_cross first), then sum += N delta. */                                                         \
  void recenter_cross(int ca, int cb, double count, const double* sum_a, const double* delta_a, const double* sum_b,            \
                      const double* delta_b, double* cross);                                                                    \
  void recenter_sums(int c, double count, const double* delta, double* sum);                                                    \
  /* ---- histograms for mutual information ---- */                                                                             \
  /* out[n, c, hw] = stats_bin_of(x, edges + u*(bins-2), bins); edges [c, bins-2] ascending.   */                               \
  void compute_bins(int n, int c, int hw, const float* x, const float* edges, int bins, uint8_t* out);                          \
  /* counts[u*bins + k] += samples of unit u in bin k. */                                                                       \
  void accumulate_marginal_hist(int n, int c, int hw, const uint8_t* bins_x, int bins, uint64_t* counts);                       \
  /* counts[((i*cb + j)*bins + ka)*bins + kb] += samples with a_i in bin ka and b_j in bin kb,  */                              \
  /* for every pair (i, j). Requires n*hw < 2^32. CPU: bit planes where the CPU has AVX-512    */                              \
  /* VPOPCNTDQ (kernels/joint_hist_avx512.h), else a scatter loop; the same integers.          */                              \
  void accumulate_joint_hist(int n, int ca, int cb, int hw, const uint8_t* bins_a, const uint8_t* bins_b, int bins,             \
                             uint64_t* counts);                                                                                 \
  /* A deterministic value subsample for percentile edges: for j < count, sample s = index[j]  */                               \
  /* (0 <= s < n*hw, image s/hw, position s%hw): out[u*capacity + offset + j] = x_u(s).       */                                \
  void gather_samples(int n, int c, int hw, const float* x, int count, const int* index, int capacity, int offset, float* out); \
  /* ---- top-k images per unit ---- */                                                                                         \
  /* max_val[i*c + u] = max over positions of x[i, u, :], argmax[i*c + u] its position (the   */                                \
  /* lowest on ties; NaNs ignored; -1 when the row is all NaN). */                                                              \
  void unit_max_per_image(int n, int c, int hw, const float* x, float* max_val, int* argmax);                                   \
  /* Empties the [c, k] tables: val = -inf, image = pos = -1. */                                                                \
  void topk_reset(int c, int k, float* val, int* image, int* pos);                                                              \
  /* Merges a batch's candidates (image ids image_id0 + i) into each unit's table, kept sorted  */                              \
  /* best first by topk_better. */                                                                                              \
  void topk_merge(int n, int c, int k, const float* max_val, const int* argmax, int image_id0, float* val, int* image, int* pos);

namespace cpu {
CVG_STATS_TWIN_API

// CPU only, MomentAccumulator's route: one batch's moments of several nets in one pass. Their shifted
// values are stacked into [sum of units, samples] runs; the upper triangle of the stacked Gram
// gives gram[p] += net p's Gram (both halves written) and cross[pair] += the cross-products of nets
// p < q (pairs ordered (0,1),(0,2)..(1,2).., as analysis/stats/moments.h's Moments), and sum[p] /
// sum_sq[p] (may be null) are added as accumulate_sums would. Each net's values are packed once,
// and the threads share out runs and row blocks, so small layers keep every thread busy. Every
// product entry is one thread's whole dot product and the float64 adds go in run order: the
// result is bitwise the same on any thread count. The Gram alone is accumulate_gram.
struct StackedNets {
  std::vector<int> units;            // per net
  std::vector<const float*> x;       // per net, NCHW [n, units, hw]
  std::vector<const float*> shift;   // per net [units], or null (zero)
  std::vector<double*> gram;         // per net [units^2]
  std::vector<double*> sum, sum_sq;  // per net [units], or null
  std::vector<double*> cross;        // per pair [units_p * units_q]
};
// Scratch of accumulate_stacked (and the CPU's accumulate_gram): a run's buffers per thread, so
// size it with the omp_get_max_threads() of the call.
size_t stacked_scratch_bytes(int n, int hw, const std::vector<int>& units);
void accumulate_stacked(int n, int hw, const StackedNets& nets, void* scratch);
// Tests only: accumulate_stacked packs conv rows plain even where rows in halves pay (the AVX2
// kernels, kernels/gemm.h), so that a test can compare the two layouts' moments bit for bit.
void stats_force_plain_rows(bool on);
}
namespace cuda {
CVG_STATS_TWIN_API
}
#undef CVG_STATS_TWIN_API

}  // namespace cvg
