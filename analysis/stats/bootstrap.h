// Block bootstrap from one pass: the moments of each block of images (MomentAccumulator with
// blocks) add up, so a resample of blocks with replacement is a weighted sum of block moments, and
// any statistic of the moments (correlations, matchings, CKA, ...) is recomputed per resample with
// no second pass over the data. 95% intervals are percentiles over the resamples.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "analysis/stats/moments.h"

namespace cvg {

// sum_b weights[b] * blocks[b] (counts and sums alike). Every block must have the same units and
// the same shift (MomentAccumulator's blocks do); throws std::logic_error otherwise.
Moments weighted_moments(const std::vector<Moments>& blocks, const std::vector<double>& weights);
// The same for several weight vectors at once, each result equal to the one-at-a-time sum (same
// order of additions), with the blocks read once for the batch.
std::vector<Moments> weighted_moments(const std::vector<Moments>& blocks, const std::vector<const std::vector<double>*>& weights);

// `resamples` draws of `blocks` blocks with replacement, as counts per block (each row sums to
// `blocks`). Replicate r depends only on (seed, r), not on how many are drawn.
std::vector<std::vector<double>> bootstrap_weights(int blocks, int resamples, uint64_t seed);

struct Interval {
  double lo = 0, hi = 0;
  int valid = 0;  // replicates that gave a number (NaN ones are left out)
};
// The central `level` percentile interval of the finite values (linear interpolation between
// order statistics); lo = hi = NaN when there are none.
Interval percentile_interval(std::vector<double> values, double level = 0.95);
// Two intervals that do not overlap: a supported difference.
inline bool separated(const Interval& a, const Interval& b) { return a.hi < b.lo || b.hi < a.lo; }

// The statistics `stat` (moments -> numbers, always the same count) over the bootstrap
// replicates: values[r][i] for replicate r. Replicates run in parallel (OpenMP), so `stat` must be
// safe to call concurrently; an exception it throws is rethrown here. Every block must have
// samples (std::logic_error otherwise).
std::vector<std::vector<double>> bootstrap_replicates(const std::vector<Moments>& blocks, int resamples, uint64_t seed,
                                                      const std::function<std::vector<double>(const Moments&)>& stat);
// Per statistic i, the percentile interval over the replicates.
std::vector<Interval> intervals(const std::vector<std::vector<double>>& replicates, double level = 0.95);

}  // namespace cvg
