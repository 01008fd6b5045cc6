// Bootstrap intervals of the global scores (CKA, CCA, SVCCA, PWCCA, Procrustes) of two nets' layer,
// from the block moments bin/correlate stores (analysis/stats/bootstrap.h): each replicate is the
// scores of a weighted sum of the blocks, so no pass over the data is needed.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats/moments.h"

namespace cvg {

// {"cka_linear": [lo, hi], "cca_mean": ..., "svcca_mean", "pwcca", "procrustes", "method": "basic",
// "percentile": {same keys}, "bias": {same keys}, "resamples", "blocks", "seed", "seconds"}: 95%
// basic bootstrap intervals [2 t - q97.5, 2 t - q2.5] over `resamples` replicates (t: the score of
// all blocks; q: the replicates' percentiles, also given), and each score's bootstrap bias estimate
// (mean of the replicates - t).
nlohmann::json global_score_intervals(const std::vector<Moments>& blocks, int p, int q, int resamples, uint64_t seed);

}  // namespace cvg
