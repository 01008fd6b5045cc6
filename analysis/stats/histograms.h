// Device-side accumulators for mutual information and for the top-k images per unit, fed batch by
// batch with the activations of the forward pass (kernels/stats.h does the work on the device).
//
// Mutual information takes two passes over the data: EdgeSampler collects a deterministic
// subsample of each unit's values in the first (alongside MomentAccumulator), from which each
// unit's percentile bin edges are read; JointHistogramAccumulator bins every value with those
// edges in the second and counts the joint bins of every unit pair of every pair of nets.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/tensor.h"

namespace cvg {

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

 private:
  Device dev_;
  int units_, capacity_, kept_ = 0;
  uint64_t every_, seed_;
  Array<float> values_;  // [units, capacity]
  Array<int> index_;
};

// Joint histograms counts[p<q] [c_p, c_q, bins, bins] and marginals [c, bins] per net.
class JointHistogramAccumulator {
 public:
  // edges[net]: [units[net] * (bins - 2)], ascending per unit (EdgeSampler::edges).
  JointHistogramAccumulator(const Device& dev, std::vector<int> units, int bins,
                            const std::vector<std::vector<float>>& edges);
  void add_batch(const std::vector<const float*>& acts, int n, int hw);
  int bins() const { return bins_; }
  std::vector<uint64_t> joint(int p, int q) const;  // p < q
  std::vector<uint64_t> marginal(int net) const;

 private:
  Device dev_;
  std::vector<int> units_;
  int bins_;
  std::vector<Array<float>> edges_;
  std::vector<Array<uint8_t>> binned_;
  std::vector<Array<uint64_t>> joint_, marginal_;
};

// The k images that excite each unit most (each image counted once, at its strongest position),
// best first; ties go to the lower image id.
class TopKAccumulator {
 public:
  struct Entry {
    float value;
    int image, position;  // position = y * w + x in the layer's map
  };
  TopKAccumulator(const Device& dev, int units, int k = 9);
  void add_batch(const float* act, int image_id0, int n, int hw);
  std::vector<std::vector<Entry>> result() const;  // per unit; fewer than k entries if fewer images

 private:
  Device dev_;
  int units_, k_;
  Array<float> val_, batch_max_;
  Array<int> image_, pos_, batch_arg_;
};

}  // namespace cvg
