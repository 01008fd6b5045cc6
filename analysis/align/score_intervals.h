// Bootstrap intervals of the global scores (CKA, CCA, SVCCA, PWCCA, Procrustes) of two nets' layer,
// from the block moments bin/correlate stores (analysis/stats/bootstrap.h): each replicate is the
// scores of a weighted sum of the blocks, so no pass over the data is needed.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats/moments.h"

namespace cvg {

// {"cka_linear": [lo, hi], "cca_mean": ..., "svcca_mean", "pwcca", "procrustes", "resamples",
// "blocks", "seed", "seconds"}: 95% percentile intervals over `resamples` replicates.
nlohmann::json global_score_intervals(const std::vector<Moments>& blocks, int p, int q, int resamples, uint64_t seed);

}  // namespace cvg
