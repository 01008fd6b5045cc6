// Mutual information between the units of two nets, in nats: per-unit percentile bins (bin 0 for
// the ReLU's exact zeros), joint histograms of every pair of units, and the plug-in estimate with
// its first-order bias correction.
//
// It takes two passes over the data: EdgeSampler collects a deterministic subsample of each unit's
// values in the first (alongside MomentAccumulator), from which each unit's percentile bin edges are
// read; JointHistogramAccumulator bins every value with those edges in the second and counts the
// joint bins of every unit pair of every pair of nets (kernels/stats.h does the work on the device).
#pragma once
#include <cstdint>
#include <vector>

#include "nn/tensor.h"

namespace cvg {

// Plug-in entropy of a histogram, H = -sum p log p.
double entropy(const uint64_t* counts, int bins);
// MI of one bins x bins joint table [ka*bins + kb], from the table's own marginals:
//   plug-in I = sum p_ab log(p_ab / (p_a p_b)),
//   bias_correct: I - (Ra - 1)(Rb - 1) / (2N), Ra, Rb = the non-empty bins of each marginal
//   (the first-order bias of the plug-in estimate: under independence 2N*I is chi-square with
//   (Ra-1)(Rb-1) degrees of freedom). The corrected value may be slightly negative; it is not clipped.
double mutual_information(const uint64_t* joint, int bins, bool bias_correct);
// MI for every pair from counts [ca, cb, bins, bins] (kernels' accumulate_joint_hist layout).
std::vector<double> mutual_information_matrix(const uint64_t* counts, int ca, int cb, int bins, bool bias_correct);

// Interior bin edges (bins - 2 of them, ascending) for one unit from a sample of its values: exact
// zeros are left to bin 0; the non-zero values are split at their quantiles k/(bins-1),
// k = 1..bins-2 (edge = the sample's value at rank floor(k*m/(bins-1)) of its m non-zero values).
// With no non-zero value the edges are +inf (every non-zero value then lands in bin 1).
std::vector<float> percentile_edges(const float* values, size_t count, int bins);

// A deterministic subsample for percentile_edges, independent of batching: the indices (into the
// batch's n*hw samples) of the samples kept, sample (image id, position) being kept when
// rng_bits(seed, stream, id*hw + position) % every == 0 (about 1 in `every`). For kernels' gather_samples.
std::vector<int> select_samples(long image_id0, int n, int hw, uint64_t every, uint64_t seed = 0);

// Keeps about `capacity` values per unit from a pass of `total_samples` (images x positions):
// sample (image id, position) is kept when select_samples says so, whatever the batching; if
// chance overshoots the capacity the later samples are dropped. One sampler per net.
class EdgeSampler {
 public:
  EdgeSampler(const Device& dev, int units, uint64_t total_samples, int capacity = 1 << 16, uint64_t seed = 0);
  // act [n, units, hw] on the device; images image_id0 .. image_id0 + n - 1.
  void add_batch(const float* act, long image_id0, int n, int hw);
  int kept() const { return kept_; }
  std::vector<float> values(int unit) const;  // the kept values of one unit
  // Per unit, bins - 2 interior edges (percentile_edges), concatenated: [units * (bins - 2)].
  std::vector<float> edges(int bins) const;
  // MPI ranks (base/dist.h), each having sampled its own batches: rank 0's sampler becomes the one
  // a single process would have (every rank's values, in image order, up to the capacity), and
  // every rank gets rank 0's edges from it. One rank: edges(bins).
  std::vector<float> pooled_edges(int bins);

 private:
  Device dev_;
  int units_, capacity_, kept_ = 0;
  uint64_t every_, seed_;
  Array<float> values_;  // [units, capacity]
  Array<int> index_;
  std::vector<std::pair<long, int>> runs_;  // (first image, values kept) per add_batch that kept any
};

// Joint histograms counts[p<q] [c_p, c_q, bins, bins] and marginals [c, bins] per net.
class JointHistogramAccumulator {
 public:
  // edges[net]: [units[net] * (bins - 2)], ascending per unit (EdgeSampler::edges).
  JointHistogramAccumulator(const Device& dev, std::vector<int> units, int bins, const std::vector<std::vector<float>>& edges);
  void add_batch(const std::vector<const float*>& acts, int n, int hw);
  int bins() const { return bins_; }
  std::vector<uint64_t> joint(int p, int q) const;  // p < q
  std::vector<uint64_t> marginal(int net) const;
  // MPI ranks: rank 0's counts become the sums over the ranks (base/dist.h); one rank: nothing.
  void reduce_to_root();

 private:
  Device dev_;
  std::vector<int> units_;
  int bins_;
  std::vector<Array<float>> edges_;
  std::vector<Array<uint8_t>> binned_;
  std::vector<Array<uint64_t>> joint_, marginal_;
};

}  // namespace cvg
