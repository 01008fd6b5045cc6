#include "analysis/stats/mutual_info.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <cstring>
#include <string>

#include "base/dist.h"
#include "kernels/rng.h"
#include "kernels/stats.h"
#include "nn/dispatch.h"

namespace cvg {

// ---- mutual information -----------------------------------------------------------------------

double entropy(const uint64_t* counts, int bins) {
  double n = 0, h = 0;
  for (int k = 0; k < bins; ++k) n += (double)counts[k];
  if (n == 0) return 0;
  for (int k = 0; k < bins; ++k)
    if (counts[k]) {
      const double p = (double)counts[k] / n;
      h -= p * std::log(p);
    }
  return h;
}

double mutual_information(const uint64_t* joint, int bins, bool bias_correct) {
  std::vector<double> pa(bins, 0.0), pb(bins, 0.0);
  double n = 0;
  for (int a = 0; a < bins; ++a)
    for (int b = 0; b < bins; ++b) {
      const double v = (double)joint[a * bins + b];
      pa[a] += v, pb[b] += v, n += v;
    }
  if (n == 0) return 0;
  // I = sum_ab (n_ab/N) log(n_ab N / (n_a n_b)), in counts to avoid dividing twice.
  double mi = 0;
  for (int a = 0; a < bins; ++a)
    for (int b = 0; b < bins; ++b) {
      const double v = (double)joint[a * bins + b];
      if (v > 0) mi += v / n * std::log(v * n / (pa[a] * pb[b]));
    }
  if (bias_correct) {
    int ra = 0, rb = 0;
    for (int k = 0; k < bins; ++k) ra += pa[k] > 0, rb += pb[k] > 0;
    mi -= (double)(ra - 1) * (rb - 1) / (2.0 * n);
  }
  return mi;
}

std::vector<double> mutual_information_matrix(const uint64_t* counts, int ca, int cb, int bins, bool bias_correct) {
  std::vector<double> mi((size_t)ca * cb);
  const size_t cells = (size_t)bins * bins;
#pragma omp parallel for schedule(static)
  for (long e = 0; e < (long)ca * cb; ++e) mi[e] = mutual_information(counts + e * cells, bins, bias_correct);
  return mi;
}

std::vector<float> percentile_edges(const float* values, size_t count, int bins) {
  if (bins < 2 || bins > kStatsMaxBins)
    throw std::logic_error("percentile_edges: bins must be in 2.." + std::to_string(kStatsMaxBins));
  std::vector<float> nz;
  nz.reserve(count);
  for (size_t i = 0; i < count; ++i)
    if (values[i] != 0.0f && !std::isnan(values[i])) nz.push_back(values[i]);
  std::vector<float> edges(bins - 2, INFINITY);
  if (nz.empty()) return edges;
  std::sort(nz.begin(), nz.end());
  const size_t m = nz.size();
  for (int k = 1; k <= bins - 2; ++k) edges[k - 1] = nz[(size_t)((double)k * m / (bins - 1))];
  return edges;
}

std::vector<int> select_samples(long image_id0, int n, int hw, uint64_t every, uint64_t seed) {
  if (every == 0) throw std::logic_error("select_samples: every must be >= 1");
  std::vector<int> keep;
  const uint64_t stream = rng_stream("select_samples");
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < hw; ++p) {
      const uint64_t g = (uint64_t)(image_id0 + i) * hw + p;
      if (rng_bits(seed, stream, g) % every == 0) keep.push_back(i * hw + p);
    }
  return keep;
}

// ---- EdgeSampler --------------------------------------------------------------------------------

EdgeSampler::EdgeSampler(const Device& dev, int units, uint64_t total_samples, int capacity, uint64_t seed)
    : dev_(dev), units_(units), capacity_(capacity), seed_(seed), values_(dev, (size_t)units * capacity) {
  if (units <= 0 || capacity <= 0) throw std::logic_error("EdgeSampler: units and capacity must be positive");
  // Aim at 80% of the capacity, so that chance (sd ~ sqrt(capacity)) almost never overshoots it.
  every_ = std::max<uint64_t>(1, (uint64_t)std::ceil(1.25 * (double)total_samples / capacity));
}

void EdgeSampler::add_batch(const float* act, long image_id0, int n, int hw) {
  if (kept_ >= capacity_ || n <= 0 || hw <= 0) return;
  std::vector<int> idx = select_samples(image_id0, n, hw, every_, seed_);
  if ((int)idx.size() > capacity_ - kept_) idx.resize(capacity_ - kept_);
  if (idx.empty()) return;
  set_current(dev_);
  if (index_.size() < idx.size()) index_ = Array<int>(dev_, std::max(idx.size(), (size_t)1024));
  device_copy(index_.data(), dev_, idx.data(), Device::cpu(), idx.size() * sizeof(int));
  CVG_DISPATCH(dev_, gather_samples, n, units_, hw, act, (int)idx.size(), index_.data(), capacity_, kept_, values_.data());
  runs_.push_back({image_id0, (int)idx.size()});
  kept_ += (int)idx.size();
}

std::vector<float> EdgeSampler::pooled_edges(int bins) {
  if (dist::size() > 1) {
    // Each rank's runs and values ([unit][kept] in its order); rank 0 interleaves them by image.
    std::vector<float> mine((size_t)units_ * kept_);
    for (int u = 0; u < units_; ++u) {
      const std::vector<float> v = values(u);
      std::copy(v.begin(), v.end(), mine.begin() + (size_t)u * kept_);
    }
    const int nruns = (int)runs_.size();
    const std::vector<char> kepts = dist::gather_to_root(&kept_, sizeof(int));
    const std::vector<char> counts = dist::gather_to_root(&nruns, sizeof(int));
    const std::vector<char> runs = dist::gather_to_root(runs_.data(), runs_.size() * sizeof(runs_[0]));
    const std::vector<char> vals = dist::gather_to_root(mine.data(), mine.size() * sizeof(float));
    if (dist::is_root()) {
      struct Run {
        long image;
        int count;
        const float* values;  // the rank's [units][kept] block, at this run's column
        int stride;           // the rank's kept
      };
      std::vector<Run> all;
      const auto* r = reinterpret_cast<const std::pair<long, int>*>(runs.data());
      const float* v = reinterpret_cast<const float*>(vals.data());
      for (int rank = 0; rank < dist::size(); ++rank) {  // in rank order, each rank's runs in image order
        int kept, count;
        std::memcpy(&kept, kepts.data() + rank * sizeof(int), sizeof(int));
        std::memcpy(&count, counts.data() + rank * sizeof(int), sizeof(int));
        for (int t = 0, col = 0; t < count; ++t, ++r) all.push_back({r->first, r->second, v + col, kept}), col += r->second;
        v += (size_t)units_ * kept;
      }
      std::sort(all.begin(), all.end(), [](const Run& a, const Run& b) { return a.image < b.image; });
      std::vector<float> pooled((size_t)units_ * capacity_);
      int n = 0;
      for (const Run& run : all) {
        const int take = std::min(run.count, capacity_ - n);
        for (int u = 0; u < units_; ++u)
          std::copy(run.values + (size_t)u * run.stride, run.values + (size_t)u * run.stride + take,
                    pooled.begin() + (size_t)u * capacity_ + n);
        n += take;
      }
      values_.from_host(pooled);
      kept_ = n;
    }
  }
  std::vector<float> e = dist::is_root() ? edges(bins) : std::vector<float>((size_t)units_ * (bins - 2));
  dist::broadcast(e.data(), e.size() * sizeof(float));
  return e;
}

std::vector<float> EdgeSampler::values(int unit) const {
  std::vector<float> v(kept_);
  device_copy(v.data(), Device::cpu(), values_.data() + (size_t)unit * capacity_, dev_, kept_ * sizeof(float));
  return v;
}

std::vector<float> EdgeSampler::edges(int bins) const {
  std::vector<float> all;
  for (int u = 0; u < units_; ++u) {
    const std::vector<float> v = values(u), e = percentile_edges(v.data(), v.size(), bins);
    all.insert(all.end(), e.begin(), e.end());
  }
  return all;
}

// ---- JointHistogramAccumulator ----------------------------------------------------------------

JointHistogramAccumulator::JointHistogramAccumulator(const Device& dev, std::vector<int> units, int bins,
                                                     const std::vector<std::vector<float>>& edges)
    : dev_(dev), units_(std::move(units)), bins_(bins) {
  if (bins < 2 || bins > kStatsMaxBins)
    throw std::logic_error("JointHistogramAccumulator: bins must be in 2.." + std::to_string(kStatsMaxBins));
  const int k = (int)units_.size();
  if ((int)edges.size() != k) throw std::logic_error("JointHistogramAccumulator: one edge list per net");
  for (int p = 0; p < k; ++p) {
    const size_t c = units_[p];
    if (edges[p].size() != c * (bins - 2))
      throw std::logic_error("JointHistogramAccumulator: net " + std::to_string(p) + " needs " + std::to_string(c * (bins - 2)) +
                             " edges, got " + std::to_string(edges[p].size()));
    edges_.emplace_back(dev, std::max<size_t>(1, edges[p].size()));
    if (!edges[p].empty()) edges_.back().from_host(edges[p]);
    binned_.emplace_back();
    marginal_.emplace_back(dev, c * bins), marginal_.back().zero();
  }
  for (int p = 0; p < k; ++p)
    for (int q = p + 1; q < k; ++q) joint_.emplace_back(dev, (size_t)units_[p] * units_[q] * bins * bins), joint_.back().zero();
}

void JointHistogramAccumulator::add_batch(const std::vector<const float*>& acts, int n, int hw) {
  const int k = (int)units_.size();
  if ((int)acts.size() != k) throw std::logic_error("JointHistogramAccumulator::add_batch: one activation per net");
  if (n <= 0 || hw <= 0) return;
  set_current(dev_);
  for (int p = 0; p < k; ++p) {
    const size_t need = (size_t)n * units_[p] * hw;
    if (binned_[p].size() < need) binned_[p] = Array<uint8_t>(dev_, need);
    CVG_DISPATCH(dev_, compute_bins, n, units_[p], hw, acts[p], edges_[p].data(), bins_, binned_[p].data());
    CVG_DISPATCH(dev_, accumulate_marginal_hist, n, units_[p], hw, binned_[p].data(), bins_, marginal_[p].data());
  }
  int pair = 0;
  for (int p = 0; p < k; ++p)
    for (int q = p + 1; q < k; ++q, ++pair)
      CVG_DISPATCH(dev_, accumulate_joint_hist, n, units_[p], units_[q], hw, binned_[p].data(), binned_[q].data(), bins_,
                   joint_[pair].data());
}

std::vector<uint64_t> JointHistogramAccumulator::joint(int p, int q) const {
  const int k = (int)units_.size();
  if (!(0 <= p && p < q && q < k)) throw std::logic_error("JointHistogramAccumulator::joint: need 0 <= p < q < nets");
  return joint_[p * k - p * (p + 1) / 2 + (q - p - 1)].to_host();
}

std::vector<uint64_t> JointHistogramAccumulator::marginal(int net) const { return marginal_.at(net).to_host(); }

void JointHistogramAccumulator::reduce_to_root() {
  if (dist::size() == 1) return;
  set_current(dev_);
  for (auto* list : {&joint_, &marginal_})
    for (Array<uint64_t>& a : *list) {
      std::vector<uint64_t> h = a.to_host();
      dist::reduce_to_root(h.data(), h.size());
      if (dist::is_root()) a.from_host(h);
    }
}

}  // namespace cvg
