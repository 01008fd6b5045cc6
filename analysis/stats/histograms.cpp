#include "analysis/stats/histograms.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "analysis/stats/moments.h"
#include "kernels/stats.h"
#include "nn/dispatch.h"

namespace cvg {

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
  CVG_DISPATCH(dev_, gather_samples, n, units_, hw, act, (int)idx.size(), index_.data(), capacity_, kept_,
                 values_.data());
  kept_ += (int)idx.size();
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
      throw std::logic_error("JointHistogramAccumulator: net " + std::to_string(p) + " needs " +
                             std::to_string(c * (bins - 2)) + " edges, got " + std::to_string(edges[p].size()));
    edges_.emplace_back(dev, std::max<size_t>(1, edges[p].size()));
    if (!edges[p].empty()) edges_.back().from_host(edges[p]);
    binned_.emplace_back();
    marginal_.emplace_back(dev, c * bins), marginal_.back().zero();
  }
  for (int p = 0; p < k; ++p)
    for (int q = p + 1; q < k; ++q)
      joint_.emplace_back(dev, (size_t)units_[p] * units_[q] * bins * bins), joint_.back().zero();
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
      CVG_DISPATCH(dev_, accumulate_joint_hist, n, units_[p], units_[q], hw, binned_[p].data(), binned_[q].data(),
                     bins_, joint_[pair].data());
}

std::vector<uint64_t> JointHistogramAccumulator::joint(int p, int q) const {
  const int k = (int)units_.size();
  if (!(0 <= p && p < q && q < k)) throw std::logic_error("JointHistogramAccumulator::joint: need 0 <= p < q < nets");
  return joint_[p * k - p * (p + 1) / 2 + (q - p - 1)].to_host();
}

std::vector<uint64_t> JointHistogramAccumulator::marginal(int net) const { return marginal_.at(net).to_host(); }

// ---- TopKAccumulator --------------------------------------------------------------------------

TopKAccumulator::TopKAccumulator(const Device& dev, int units, int k)
    : dev_(dev), units_(units), k_(k), val_(dev, (size_t)units * k), image_(dev, (size_t)units * k),
      pos_(dev, (size_t)units * k) {
  if (k < 1 || k > kStatsMaxTopK) throw std::logic_error("TopKAccumulator: k must be in 1.." + std::to_string(kStatsMaxTopK));
  set_current(dev_);
  CVG_DISPATCH(dev_, topk_reset, units_, k_, val_.data(), image_.data(), pos_.data());
}

void TopKAccumulator::add_batch(const float* act, int image_id0, int n, int hw) {
  if (n <= 0 || hw <= 0) return;
  set_current(dev_);
  const size_t need = (size_t)n * units_;
  if (batch_max_.size() < need) batch_max_ = Array<float>(dev_, need), batch_arg_ = Array<int>(dev_, need);
  CVG_DISPATCH(dev_, unit_max_per_image, n, units_, hw, act, batch_max_.data(), batch_arg_.data());
  CVG_DISPATCH(dev_, topk_merge, n, units_, k_, batch_max_.data(), batch_arg_.data(), image_id0, val_.data(),
                 image_.data(), pos_.data());
}

std::vector<std::vector<TopKAccumulator::Entry>> TopKAccumulator::result() const {
  const auto v = val_.to_host();
  const auto im = image_.to_host(), ps = pos_.to_host();
  std::vector<std::vector<Entry>> r(units_);
  for (int u = 0; u < units_; ++u)
    for (int t = 0; t < k_; ++t) {
      const size_t e = (size_t)u * k_ + t;
      if (im[e] >= 0) r[u].push_back({v[e], im[e], ps[e]});
    }
  return r;
}

}  // namespace cvg
