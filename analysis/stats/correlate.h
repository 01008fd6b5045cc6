// The paper's one-to-one comparison of nets: one fused pass over a dataset in which every net runs
// forward on the same batch and each analysed layer's fresh activations go straight into the
// moment kernels on the device (nothing is copied to the host or kept past its batch); an optional
// second pass for mutual information; then, per layer and pair of nets, correlation matrices,
// semi-matching, exact bipartite matching and their summary numbers.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/match/match.h"
#include "analysis/stats/moments.h"
#include "data/dataset.h"
#include "nn/net.h"
#include "nn/run.h"  // comparable_layers: which layers the nets can be compared in

namespace cvg {

struct CorrelateOptions {
  std::vector<std::string> layers;     // empty: every conv and fc layer
  std::vector<std::string> mi_layers;  // layers that also get mutual information
  int mi_bins = 10;                    // bin 0 holds the ReLU's exact zeros, 9 percentile bins the rest
  int mi_samples = 20000;              // per unit, for the percentile bin edges (first pass)
  int batch = 128;
  int threads = 2;
  long long max_images = -1;           // -1: the whole split
  Solver solver = Solver::Exact;
  bool quiet = false;
};

struct PairResult {
  int a = 0, b = 1;                      // net indices
  std::vector<double> between;           // [ca * cb] correlations
  std::vector<int64_t> semi_ab, semi_ba; // each unit's best partner in the other net
  Assignment bipartite;                  // row (unit of a) -> unit of b
  std::vector<double> mi;                // [ca * cb] nats, bias-corrected; empty unless MI was asked
  Assignment mi_bipartite;
  nlohmann::json summary;                // the numbers bin/correlate prints and writes
};

struct LayerResult {
  std::string name;
  int hw = 1;                 // positions per image (samples per image per unit)
  Moments moments;
  LayerStats stats;
  std::vector<PairResult> pairs;  // (0,1), (0,2), ..., (1,2), ...
};

std::vector<LayerResult> correlate_nets(const std::vector<Net*>& nets, const Dataset& data, const CorrelateOptions& opt);

// Per-pair summary from the finished statistics (also used by tests): semi-matching both ways,
// bipartite, within-net best partner, the random-permutation expectation, mutual best partners,
// agreement of the two matchings, the matched pairs sorted best first.
PairResult compare_pair(const LayerStats& s, const std::vector<int>& units, int a, int b, Solver solver, const Device& dev);

}  // namespace cvg
