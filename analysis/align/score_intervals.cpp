#include "analysis/align/score_intervals.h"

#include <chrono>

#include "analysis/align/scores.h"
#include "analysis/stats/bootstrap.h"

namespace cvg {

nlohmann::json global_score_intervals(const std::vector<Moments>& blocks, int p, int q, int resamples, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto reps = bootstrap_replicates(blocks, resamples, seed, [&](const Moments& m) {
    const GlobalScores s = global_scores(pair_moments(m, p, q));
    return std::vector<double>{s.cka, s.cca_mean, s.svcca_mean, s.pwcca, s.procrustes};
  });
  const std::vector<Interval> iv = intervals(reps);
  nlohmann::json j;
  const char* keys[] = {"cka_linear", "cca_mean", "svcca_mean", "pwcca", "procrustes"};
  for (size_t i = 0; i < iv.size(); ++i) j[keys[i]] = {iv[i].lo, iv[i].hi};
  j["resamples"] = resamples, j["blocks"] = blocks.size(), j["seed"] = seed;
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return j;
}

}  // namespace cvg
