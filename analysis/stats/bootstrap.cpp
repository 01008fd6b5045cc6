#include "analysis/stats/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>

#include "kernels/rng.h"

namespace cvg {

Moments weighted_moments(const std::vector<Moments>& blocks, const std::vector<double>& weights) {
  if (blocks.empty() || blocks.size() != weights.size())
    throw std::logic_error("weighted_moments: one weight per block, at least one block");
  Moments m(blocks[0].units);
  m.shift = blocks[0].shift;
  auto axpy = [](std::vector<double>& y, double w, const std::vector<double>& x) {
    for (size_t e = 0; e < y.size(); ++e) y[e] += w * x[e];
  };
  for (size_t b = 0; b < blocks.size(); ++b) {
    const Moments& x = blocks[b];
    if (x.units != m.units || x.shift != m.shift)
      throw std::logic_error("weighted_moments: blocks differ in units or reference shift");
    const double w = weights[b];
    if (w == 0) continue;
    m.count += w * x.count;
    for (int p = 0; p < m.nets(); ++p) axpy(m.sum[p], w, x.sum[p]), axpy(m.gram[p], w, x.gram[p]);
    for (size_t e = 0; e < m.cross.size(); ++e) axpy(m.cross[e], w, x.cross[e]);
  }
  return m;
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
#pragma omp parallel for schedule(dynamic, 1)
  for (int r = 0; r < resamples; ++r) {
    try {
      out[r] = stat(weighted_moments(blocks, w[r]));
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
