#include "analysis/align/score_intervals.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "analysis/align/scores.h"
#include "analysis/stats/bootstrap.h"

namespace cvg {

namespace {

// The blocks cut down to nets p and q (as nets 0 and 1 in that order): a resample then sums 3
// matrices per block instead of all K nets' grams and K (K - 1) / 2 cross blocks, with the same
// arithmetic on the entries the pair uses.
std::vector<Moments> pair_blocks(const std::vector<Moments>& blocks, int p, int q) {
  std::vector<Moments> out;
  for (const Moments& b : blocks) {
    Moments m({b.units.at(p), b.units.at(q)});
    m.count = b.count;
    m.shift = {b.shift[p], b.shift[q]}, m.sum = {b.sum[p], b.sum[q]}, m.gram = {b.gram[p], b.gram[q]};
    const int lo = std::min(p, q), hi = std::max(p, q);
    const std::vector<double>& c = b.cross[b.pair_index(lo, hi)];
    if (p < q) {
      m.cross[0] = c;
    } else {  // stored [units p_lo x units p_hi]; net 0 is now p = hi: transpose
      const int rows = b.units[lo], cols = b.units[hi];
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) m.cross[0][(size_t)j * rows + i] = c[(size_t)i * cols + j];
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

nlohmann::json global_score_intervals(const std::vector<Moments>& all_blocks, int p, int q, int resamples, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Moments> blocks = pair_blocks(all_blocks, p, q);
  auto scores = [&](const Moments& m) {
    const ScoreSummary s = score_summary(pair_moments(m, 0, 1));
    return std::vector<double>{s.cka, s.cca_mean, s.svcca_mean, s.pwcca, s.procrustes};
  };
  const std::vector<double> point = scores(weighted_moments(blocks, std::vector<double>(blocks.size(), 1.0)));
  const auto reps = bootstrap_replicates(blocks, resamples, seed, scores);
  const std::vector<Interval> iv = intervals(reps);
  // A resample repeats images, and CCA-type scores of few images per unit are biased upward (on
  // fc6, 256 units, the whole percentile interval lay above the estimate). The basic interval
  // [2 t - q_hi, 2 t - q_lo] subtracts the bias the bootstrap shows, so it is the one reported.
  nlohmann::json j, percentile, bias;
  const char* keys[] = {"cka_linear", "cca_mean", "svcca_mean", "pwcca", "procrustes"};
  for (size_t i = 0; i < iv.size(); ++i) {
    j[keys[i]] = {2 * point[i] - iv[i].hi, 2 * point[i] - iv[i].lo};
    percentile[keys[i]] = {iv[i].lo, iv[i].hi};
    double mean = 0;
    int valid = 0;
    for (const auto& r : reps)
      if (std::isfinite(r[i])) mean += r[i], ++valid;
    bias[keys[i]] = valid ? mean / valid - point[i] : NAN;
  }
  j["method"] = "basic", j["percentile"] = percentile, j["bias"] = bias;
  j["resamples"] = resamples, j["blocks"] = blocks.size(), j["seed"] = seed;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return j;
}

}  // namespace cvg
