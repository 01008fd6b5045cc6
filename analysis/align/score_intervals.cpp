#include "analysis/align/score_intervals.h"

#include <chrono>
#include <cmath>

#include "analysis/align/scores.h"
#include "analysis/stats/bootstrap.h"

namespace cvg {

nlohmann::json global_score_intervals(const std::vector<Moments>& blocks, int p, int q, int resamples, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  auto scores = [&](const Moments& m) {
    const GlobalScores s = global_scores(pair_moments(m, p, q));
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
