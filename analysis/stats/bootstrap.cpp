#include "analysis/stats/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>

#include "kernels/rng.h"

namespace cvg {

std::vector<Moments> weighted_moments(const std::vector<Moments>& blocks, const std::vector<const std::vector<double>*>& weights) {
  for (const std::vector<double>* w : weights)
    if (blocks.empty() || blocks.size() != w->size())
      throw std::logic_error("weighted_moments: one weight per block, at least one block");
  if (weights.empty()) return {};
  for (const Moments& x : blocks)
    if (x.units != blocks[0].units || x.shift != blocks[0].shift)
      throw std::logic_error("weighted_moments: blocks differ in units or reference shift");
  std::vector<Moments> out(weights.size(), Moments(blocks[0].units));
  for (Moments& m : out) m.shift = blocks[0].shift;
  // Each entry of every sum adds its terms in block order, whatever the batch; tile by tile, so a
  // tile of a block is read from memory once for the whole batch.
  auto add = [&](auto member_of) {
    const size_t size = member_of(blocks[0]).size();
    constexpr size_t tile = 1024;
    for (size_t lo = 0; lo < size; lo += tile) {
      const size_t hi = std::min(size, lo + tile);
      for (size_t b = 0; b < blocks.size(); ++b) {
        const double* x = member_of(blocks[b]).data();
        for (size_t r = 0; r < out.size(); ++r) {
          const double w = (*weights[r])[b];
          if (w == 0) continue;
          double* y = member_of(out[r]).data();
          for (size_t e = lo; e < hi; ++e) y[e] += w * x[e];
        }
      }
    }
  };
  for (size_t r = 0; r < out.size(); ++r)
    for (size_t b = 0; b < blocks.size(); ++b)
      if ((*weights[r])[b] != 0) out[r].count += (*weights[r])[b] * blocks[b].count;
  for (int p = 0; p < out[0].nets(); ++p) {
    add([p](auto& m) -> auto& { return m.sum[p]; });
    add([p](auto& m) -> auto& { return m.gram[p]; });
  }
  for (size_t e = 0; e < out[0].cross.size(); ++e) add([e](auto& m) -> auto& { return m.cross[e]; });
  return out;
}

Moments weighted_moments(const std::vector<Moments>& blocks, const std::vector<double>& weights) {
  return std::move(weighted_moments(blocks, {&weights})[0]);
}

std::vector<std::vector<double>> bootstrap_weights(int blocks, int resamples, uint64_t seed) {
  if (blocks < 1 || resamples < 0) throw std::logic_error("bootstrap_weights: need blocks >= 1, resamples >= 0");
  const uint64_t stream = rng_stream("bootstrap");
  std::vector<std::vector<double>> w(resamples, std::vector<double>(blocks, 0.0));
  for (int r = 0; r < resamples; ++r)
    for (int d = 0; d < blocks; ++d) {
      // Lemire's multiply-shift: uniform enough for blocks << 2^32.
      const uint64_t bits = rng_bits(seed, stream, (uint64_t)r * blocks + d) >> 32;
      w[r][(size_t)((bits * (uint64_t)blocks) >> 32)] += 1;
    }
  return w;
}

Interval percentile_interval(std::vector<double> v, double level) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  Interval r;
  r.valid = (int)v.size();
  if (v.empty()) return r.lo = r.hi = NAN, r;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {  // the q-quantile, interpolated (numpy's default "linear")
    const double pos = q * (v.size() - 1);
    const size_t i = (size_t)std::floor(pos);
    const double f = pos - i;
    return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  r.lo = at((1 - level) / 2), r.hi = at(1 - (1 - level) / 2);
  return r;
}

std::vector<std::vector<double>> bootstrap_replicates(const std::vector<Moments>& blocks, int resamples, uint64_t seed,
                                                      const std::function<std::vector<double>(const Moments&)>& stat) {
  for (const Moments& b : blocks)
    if (!(b.count > 0)) throw std::logic_error("bootstrap_replicates: a block without samples (leave empty blocks out)");
  const std::vector<std::vector<double>> w = bootstrap_weights((int)blocks.size(), resamples, seed);
  std::vector<std::vector<double>> out(resamples);
  std::exception_ptr error;  // an exception may not leave the parallel region
  // A few replicates' moments at a time: summing the blocks is memory-bound, and a batch reads
  // them once (the sums do not depend on the batch, so neither do the results).
  constexpr int batch = 4;
  const int batches = (resamples + batch - 1) / batch;
#pragma omp parallel for schedule(dynamic, 1)
  for (int c = 0; c < batches; ++c) {
    try {
      std::vector<const std::vector<double>*> wc;
      for (int r = c * batch; r < std::min(resamples, (c + 1) * batch); ++r) wc.push_back(&w[r]);
      std::vector<Moments> m = weighted_moments(blocks, wc);
      for (size_t i = 0; i < m.size(); ++i) {
        out[(size_t)c * batch + i] = stat(m[i]);
        m[i] = Moments();  // free as we go
      }
    } catch (...) {
#pragma omp critical(bootstrap_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

std::vector<Interval> intervals(const std::vector<std::vector<double>>& reps, double level) {
  if (reps.empty()) return {};
  std::vector<Interval> r;
  for (size_t i = 0; i < reps[0].size(); ++i) {
    std::vector<double> v;
    for (const auto& rep : reps) v.push_back(rep.at(i));
    r.push_back(percentile_interval(v, level));
  }
  return r;
}

}  // namespace cvg
