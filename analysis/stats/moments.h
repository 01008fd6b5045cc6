// Streamed activation statistics of one layer for several nets, in float64 on the host, and what
// they give: means, standard deviations, within-net and between-net correlation matrices.
//
// The device side is MomentAccumulator: it owns the float64 accumulators on a Device and feeds each
// batch's activations to the kernels of kernels/stats.h; only per-unit sums come back to the host
// (to recentre) until moments(). Mutual information: analysis/stats/mutual_info.h; top-k:
// analysis/stats/topk.h.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/tensor.h"

namespace cvg {

// Sums over N samples of the values shifted by a per-unit reference r (see kernels/stats.h):
//   sum[net][u] = sum (x_u - r_u),   gram[net][u*c + v] = sum (x_u - r_u)(x_v - r_v),
//   cross[pair][i*c_q + j] = sum (a_i - r_i)(b_j - r_j) for nets p < q, pair = pair_index(p, q).
struct Moments {
  std::vector<int> units;                  // per net
  double count = 0;                        // samples seen (the same for every net)
  std::vector<std::vector<double>> shift;  // per net [c]
  std::vector<std::vector<double>> sum;    // per net [c]
  std::vector<std::vector<double>> gram;   // per net [c*c]
  std::vector<std::vector<double>> cross;  // per pair [c_p*c_q], pairs (0,1),(0,2)..(0,K-1),(1,2)..

  Moments() = default;
  explicit Moments(std::vector<int> units_per_net);
  int nets() const { return (int)units.size(); }
  int pair_index(int p, int q) const;  // p < q
  // Re-expresses the sums around a new reference (exact algebra in float64; results unchanged).
  void recenter(int net, const std::vector<double>& new_shift);
  // Adds another set of moments over other samples (same units); it may use other references.
  void merge(const Moments& other);
};

struct LayerStats {
  std::vector<std::vector<double>> mean, std;  // per net [c]; std with divisor N (population)
  std::vector<std::vector<double>> within;     // per net [c*c]: exactly symmetric, diagonal 1
  std::vector<std::vector<double>> between;    // per pair [c_p*c_q]
  // Per net, the units whose variance is zero or lost in float32 rounding (var <= kZeroVarRel of
  // their mean square about the reference). Their correlations are 0 (their diagonal too), never NaN.
  std::vector<std::vector<int>> zero_variance;
};
constexpr double kZeroVarRel = 1e-4;

LayerStats finalize(const Moments& m);

// The reference subtracted from a unit's values before the float32 products, from its mean and
// mean square (about 0). The mean removes cancellation when mean >> std. But with r = mean a ReLU
// unit's exact zeros all become the same term -r, and adding one constant again and again to a
// float32 sum rounds the same way every time: a bias measured up to ~3e-6 in the correlation at
// 50-90% zeros. r = 0 keeps those terms exactly 0, at the price of a cancellation factor
// E[x^2]/var, which costs < 2e-7 while it is <= kZeroShiftMaxCancellation (measured). So: 0 when
// E[x^2] <= 16 var, else the mean (a constant unit gets its value: its differences are all 0).
constexpr double kZeroShiftMaxCancellation = 16;
float choose_shift(double mean, double mean_square);

// Accumulates Moments on a device: per batch, per net its sums and Gram, per pair of nets the
// cross-products. The references come from the first batch (choose_shift); at batches 2, 4, 8, ...
// they are chosen again from the running moments (recentring), so float32 terms stay O(std) even
// when the data drift.
class MomentAccumulator {
 public:
  MomentAccumulator(const Device& dev, std::vector<int> units_per_net);
  // acts[net] on the accumulator's device, NCHW [n, units[net], hw] (fc: hw = 1).
  void add_batch(const std::vector<const float*>& acts, int n, int hw);
  Moments moments() const;  // copies the accumulators to the host
  const Device& device() const { return dev_; }

 private:
  void recenter();
  Device dev_;
  std::vector<int> units_;
  double count_ = 0;
  long batches_ = 0;
  std::vector<std::vector<float>> shift_host_;
  std::vector<Array<float>> shift_;
  std::vector<Array<double>> sum_, sum_sq_, gram_, cross_, delta_;
  Array<char> scratch_;
};

}  // namespace cvg
