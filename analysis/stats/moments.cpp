#include "analysis/stats/moments.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "base/dist.h"
#include "kernels/stats.h"
#include "nn/dispatch.h"

namespace cvg {

// ---- Moments ------------------------------------------------------------------------------------

Moments::Moments(std::vector<int> units_per_net) : units(std::move(units_per_net)) {
  const int k = nets();
  for (int p = 0; p < k; ++p) {
    const size_t c = units[p];
    shift.emplace_back(c, 0.0);
    sum.emplace_back(c, 0.0);
    gram.emplace_back(c * c, 0.0);
  }
  for (int p = 0; p < k; ++p)
    for (int q = p + 1; q < k; ++q) cross.emplace_back((size_t)units[p] * units[q], 0.0);
}

int Moments::pair_index(int p, int q) const {
  const int k = nets();
  if (!(0 <= p && p < q && q < k)) throw std::logic_error("Moments::pair_index: need 0 <= p < q < nets");
  return p * k - p * (p + 1) / 2 + (q - p - 1);
}

void Moments::recenter(int net, const std::vector<double>& new_shift) {
  const int c = units.at(net);
  if ((int)new_shift.size() != c) throw std::logic_error("Moments::recenter: wrong number of units");
  std::vector<double> d(c);
  for (int u = 0; u < c; ++u) d[u] = shift[net][u] - new_shift[u];
  // Crosses and Gram first: they need the sums about the old reference.
  for (int p = 0; p < nets(); ++p) {
    if (p == net) continue;
    const std::vector<double> zero(units[p], 0.0);
    if (p < net)
      cpu::recenter_cross(units[p], c, count, sum[p].data(), zero.data(), sum[net].data(), d.data(),
                          cross[pair_index(p, net)].data());
    else
      cpu::recenter_cross(c, units[p], count, sum[net].data(), d.data(), sum[p].data(), zero.data(),
                          cross[pair_index(net, p)].data());
  }
  cpu::recenter_cross(c, c, count, sum[net].data(), d.data(), sum[net].data(), d.data(), gram[net].data());
  cpu::recenter_sums(c, count, d.data(), sum[net].data());
  shift[net] = new_shift;
}

void Moments::merge(const Moments& other) {
  if (other.units != units) throw std::logic_error("Moments::merge: the two sets have different units");
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  Moments o = other;
  for (int p = 0; p < nets(); ++p)
    if (o.shift[p] != shift[p]) o.recenter(p, shift[p]);
  count += o.count;
  auto add = [](std::vector<double>& a, const std::vector<double>& b) {
    for (size_t e = 0; e < a.size(); ++e) a[e] += b[e];
  };
  for (int p = 0; p < nets(); ++p) add(sum[p], o.sum[p]), add(gram[p], o.gram[p]);
  for (size_t e = 0; e < cross.size(); ++e) add(cross[e], o.cross[e]);
}

LayerStats finalize(const Moments& m) {
  LayerStats r;
  const int k = m.nets();
  const double N = m.count;
  if (N <= 0) throw std::logic_error("finalize: no samples were accumulated");
  std::vector<std::vector<double>> mc(k);   // mean about the reference
  std::vector<std::vector<double>> inv(k);  // 1/std, or 0 for a zero-variance unit
  for (int p = 0; p < k; ++p) {
    const int c = m.units[p];
    r.mean.emplace_back(c), r.std.emplace_back(c), mc[p].resize(c), inv[p].resize(c);
    r.zero_variance.emplace_back();
    for (int u = 0; u < c; ++u) {
      mc[p][u] = m.sum[p][u] / N;
      r.mean[p][u] = m.shift[p][u] + mc[p][u];
      const double mean_square = m.gram[p][(size_t)u * c + u] / N;
      const double var = mean_square - mc[p][u] * mc[p][u];
      const bool zero = !(var > kZeroVarRel * mean_square);
      r.std[p][u] = zero ? 0.0 : std::sqrt(var);
      inv[p][u] = zero ? 0.0 : 1.0 / r.std[p][u];
      if (zero) r.zero_variance[p].push_back(u);
    }
    // Within: computed once per unordered pair (upper triangle), written to both halves.
    std::vector<double> w((size_t)c * c, 0.0);
    for (int i = 0; i < c; ++i) {
      w[(size_t)i * c + i] = inv[p][i] > 0 ? 1.0 : 0.0;
      for (int j = i + 1; j < c; ++j) {
        const double cov = m.gram[p][(size_t)i * c + j] / N - mc[p][i] * mc[p][j];
        w[(size_t)i * c + j] = w[(size_t)j * c + i] = cov * inv[p][i] * inv[p][j];
      }
    }
    r.within.push_back(std::move(w));
  }
  for (int p = 0; p < k; ++p)
    for (int q = p + 1; q < k; ++q) {
      const int ca = m.units[p], cb = m.units[q];
      const std::vector<double>& C = m.cross[m.pair_index(p, q)];
      std::vector<double> b((size_t)ca * cb);
      for (int i = 0; i < ca; ++i)
        for (int j = 0; j < cb; ++j) {
          const double cov = C[(size_t)i * cb + j] / N - mc[p][i] * mc[q][j];
          b[(size_t)i * cb + j] = cov * inv[p][i] * inv[q][j];
        }
      r.between.push_back(std::move(b));
    }
  return r;
}

// ---- MomentAccumulator ------------------------------------------------------------------------

float choose_shift(double mean, double mean_square) {
  const double var = mean_square - mean * mean;
  if (var > 0 && mean_square <= kZeroShiftMaxCancellation * var) return 0.0f;
  return (float)mean;
}

MomentAccumulator::MomentAccumulator(const Device& dev, std::vector<int> units_per_net, int blocks)
    : dev_(dev), units_(std::move(units_per_net)), blocks_(blocks) {
  const int k = (int)units_.size();
  if (blocks < 0) throw std::logic_error("MomentAccumulator: blocks must be >= 0");
  for (int p = 0; p < k; ++p) {
    const size_t c = units_[p];
    if (units_[p] <= 0) throw std::logic_error("MomentAccumulator: every net needs at least one unit");
    shift_host_.emplace_back(c, 0.0f);
    shift_.emplace_back(dev, c);
    delta_.emplace_back(dev, c);
  }
  slots_.resize(std::max(1, blocks));
  for (Slot& s : slots_) {
    for (int p = 0; p < k; ++p) {
      const size_t c = units_[p];
      s.sum.emplace_back(dev, c), s.sum.back().zero();
      s.sum_sq.emplace_back(dev, c), s.sum_sq.back().zero();
      s.gram.emplace_back(dev, c * c), s.gram.back().zero();
    }
    for (int p = 0; p < k; ++p)
      for (int q = p + 1; q < k; ++q) s.cross.emplace_back(dev, (size_t)units_[p] * units_[q]), s.cross.back().zero();
  }
}

size_t MomentAccumulator::bytes(const std::vector<int>& units, int blocks) {
  size_t doubles = 0;
  for (size_t p = 0; p < units.size(); ++p) {
    doubles += (size_t)units[p] * units[p] + 2 * (size_t)units[p];
    for (size_t q = p + 1; q < units.size(); ++q) doubles += (size_t)units[p] * units[q];
  }
  return doubles * sizeof(double) * std::max(1, blocks);
}

void MomentAccumulator::add_batch(const std::vector<const float*>& acts, int n, int hw, long image0) {
  const int k = (int)units_.size();
  if ((int)acts.size() != k) throw std::logic_error("MomentAccumulator::add_batch: one activation per net");
  if (n <= 0 || hw <= 0) return;
  set_current(dev_);
  if (batches_ == 0) {  // references from this batch's moments about 0
    Slot& s0 = slots_[0];
    for (int p = 0; p < k; ++p) {
      const int c = units_[p];
      CVG_DISPATCH(dev_, accumulate_sums, n, c, hw, acts[p], nullptr, s0.sum[p].data(), s0.sum_sq[p].data());
      auto s = s0.sum[p].to_host(), s2 = s0.sum_sq[p].to_host();
      const double K = (double)n * hw;
      for (int u = 0; u < c; ++u) shift_host_[p][u] = choose_shift(s[u] / K, s2[u] / K);
      s0.sum[p].zero(), s0.sum_sq[p].zero();
    }
    share_references();
  }
  if (blocks_ == 0) {
    add_run(slots_[0], acts, n, hw);
  } else {  // each run of images of one block, at its place in the batch (NCHW: images are contiguous)
    for (int i0 = 0; i0 < n;) {
      const long img = image0 + i0;
      const int i1 = (int)std::min<long>(n, (img / kBlockRun + 1) * kBlockRun - image0);
      std::vector<const float*> part(k);
      for (int p = 0; p < k; ++p) part[p] = acts[p] + (size_t)i0 * units_[p] * hw;
      add_run(slots_[block_of_image(img, blocks_)], part, i1 - i0, hw);
      i0 = i1;
    }
  }
  count_batch(n, hw);
}

void MomentAccumulator::skip_batch(int n, int hw) {
  if (n <= 0 || hw <= 0) return;
  set_current(dev_);
  if (batches_ == 0) share_references();
  count_batch(n, hw);
}

void MomentAccumulator::count_batch(int n, int hw) {
  count_ += (double)n * hw;
  ++batches_;
  if (batches_ >= 2 && (batches_ & (batches_ - 1)) == 0) recenter();
}

void MomentAccumulator::share_references() {
  for (size_t p = 0; p < units_.size(); ++p) {
    dist::broadcast(shift_host_[p].data(), shift_host_[p].size() * sizeof(float));
    shift_[p].from_host(shift_host_[p]);
  }
}

void MomentAccumulator::reduce_to_root() {
  if (dist::size() == 1) return;
  set_current(dev_);
  auto reduce = [](Array<double>& a) {
    std::vector<double> h = a.to_host();
    dist::reduce_to_root(h.data(), h.size());
    if (dist::is_root()) a.from_host(h);
  };
  std::vector<double> counts;
  for (Slot& s : slots_) {
    counts.push_back(s.count);
    for (auto* list : {&s.sum, &s.sum_sq, &s.gram, &s.cross})
      for (Array<double>& a : *list) reduce(a);
  }
  dist::reduce_to_root(counts.data(), counts.size());
  if (dist::is_root())
    for (size_t b = 0; b < slots_.size(); ++b) slots_[b].count = counts[b];
}

void MomentAccumulator::add_run(Slot& slot, const std::vector<const float*>& acts, int n, int hw) {
  const int k = (int)units_.size();
  if (!dev_.is_cuda()) {  // all nets stacked in one pass (kernels/stats.h: accumulate_stacked)
    cpu::StackedNets s{units_, acts, {}, {}, {}, {}, {}};
    for (int p = 0; p < k; ++p) {
      s.shift.push_back(shift_[p].data()), s.gram.push_back(slot.gram[p].data());
      s.sum.push_back(slot.sum[p].data()), s.sum_sq.push_back(slot.sum_sq[p].data());
    }
    for (Array<double>& c : slot.cross) s.cross.push_back(c.data());
    const size_t need = cpu::stacked_scratch_bytes(n, hw, units_);
    if (scratch_.size() < need) scratch_ = Array<char>(dev_, need);
    cpu::accumulate_stacked(n, hw, s, scratch_.data());
    slot.count += (double)n * hw;
    return;
  }
  // The GPU: each net's Gram matrix and each pair's cross-products, one kernel call each.
  size_t need = 0;
  for (int p = 0; p < k; ++p) {
    need = std::max(need, CVG_DISPATCH(dev_, gram_scratch_bytes, n, units_[p], hw));
    for (int q = p + 1; q < k; ++q) need = std::max(need, CVG_DISPATCH(dev_, cross_scratch_bytes, n, units_[p], units_[q], hw));
  }
  if (scratch_.size() < need) scratch_ = Array<char>(dev_, need);
  for (int p = 0, pair = 0; p < k; ++p)
    for (int q = p + 1; q < k; ++q, ++pair)
      CVG_DISPATCH(dev_, accumulate_cross, n, units_[p], units_[q], hw, acts[p], shift_[p].data(), acts[q], shift_[q].data(),
                   scratch_.data(), slot.cross[pair].data());
  for (int p = 0; p < k; ++p)
    CVG_DISPATCH(dev_, accumulate_gram, n, units_[p], hw, acts[p], shift_[p].data(), scratch_.data(), slot.gram[p].data(),
                 slot.sum[p].data(), slot.sum_sq[p].data());
  slot.count += (double)n * hw;
}

void MomentAccumulator::recenter() {
  const int k = (int)units_.size();
  const double N = count_;
  // The new references from the totals over the blocks; then every block moves to them.
  std::vector<std::vector<std::vector<double>>> sums(slots_.size()), sqs(slots_.size());
  for (size_t b = 0; b < slots_.size(); ++b)
    for (int p = 0; p < k; ++p) sums[b].push_back(slots_[b].sum[p].to_host()), sqs[b].push_back(slots_[b].sum_sq[p].to_host());
  // Per net, the sums and sums of squares over the blocks, then over the ranks (each rank holds
  // the sums of its own batches).
  std::vector<std::vector<double>> total(k);
  for (int p = 0; p < k; ++p) {
    total[p].assign(2 * (size_t)units_[p], 0.0);
    for (int u = 0; u < units_[p]; ++u)
      for (size_t b = 0; b < slots_.size(); ++b) total[p][u] += sums[b][p][u], total[p][units_[p] + u] += sqs[b][p][u];
    dist::allreduce(total[p].data(), total[p].size());
  }
  for (int p = 0; p < k; ++p) {
    std::vector<double> d(units_[p]);
    for (int u = 0; u < units_[p]; ++u) {
      const double s = total[p][u], s2 = total[p][units_[p] + u];
      const double r = shift_host_[p][u], m = s / N, var = s2 / N - m * m;
      const float fresh = choose_shift(r + m, var + (r + m) * (r + m));
      d[u] = r - (double)fresh;  // exact: both are floats
      shift_host_[p][u] = fresh;
    }
    delta_[p].from_host(d);
  }
  for (size_t b = 0; b < slots_.size(); ++b) {
    Slot& s = slots_[b];
    const double n = s.count;
    // Grams and crosses need the sums about the old references: they go first.
    int pair = 0;
    for (int p = 0; p < k; ++p) {
      CVG_DISPATCH(dev_, recenter_cross, units_[p], units_[p], n, s.sum[p].data(), delta_[p].data(), s.sum[p].data(),
                   delta_[p].data(), s.gram[p].data());
      for (int q = p + 1; q < k; ++q, ++pair)
        CVG_DISPATCH(dev_, recenter_cross, units_[p], units_[q], n, s.sum[p].data(), delta_[p].data(), s.sum[q].data(),
                     delta_[q].data(), s.cross[pair].data());
    }
    for (int p = 0; p < k; ++p) {
      const auto d = delta_[p].to_host();
      std::vector<double>&sm = sums[b][p], &sq = sqs[b][p];
      for (int u = 0; u < units_[p]; ++u) {
        sq[u] += 2 * d[u] * sm[u] + n * d[u] * d[u];  // sum of (x - r + d)^2
        sm[u] += n * d[u];
      }
      s.sum[p].from_host(sm), s.sum_sq[p].from_host(sq);
    }
  }
  for (int p = 0; p < k; ++p) shift_[p].from_host(shift_host_[p]);
}

Moments MomentAccumulator::slot_moments(const Slot& s) const {
  Moments m(units_);
  m.count = s.count;
  for (size_t p = 0; p < units_.size(); ++p) {
    m.shift[p].assign(shift_host_[p].begin(), shift_host_[p].end());
    m.sum[p] = s.sum[p].to_host();
    m.gram[p] = s.gram[p].to_host();
  }
  for (size_t e = 0; e < s.cross.size(); ++e) m.cross[e] = s.cross[e].to_host();
  return m;
}

Moments MomentAccumulator::moments() const {
  Moments m = slot_moments(slots_[0]);
  for (size_t b = 1; b < slots_.size(); ++b) m.merge(slot_moments(slots_[b]));
  return m;
}

std::vector<Moments> MomentAccumulator::block_moments() const {
  std::vector<Moments> r;
  if (blocks_ > 0)
    for (const Slot& s : slots_) r.push_back(slot_moments(s));
  return r;
}

}  // namespace cvg
