// The paper's one-to-one comparison of nets: one fused pass over a dataset in which every net runs
// forward on the same batch and each analysed layer's fresh activations go straight into the
// moment kernels on the device (nothing is copied to the host or kept past its batch); an optional
// second pass for mutual information; then, per layer and pair of nets, correlation matrices,
// semi-matching, exact bipartite matching and their summary numbers.
#pragma once
#include <cmath>
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
  long long max_images = -1;  // -1: the whole split
  Solver solver = Solver::Exact;
  int blocks = 0;           // blocks of images for the bootstrap (0: none)
  size_t memory_limit = 0;  // bytes the block moments may take (0: the memory available now)
  int bootstrap = 0;        // resamples (needs blocks; matchings re-solved exactly)
  uint64_t bootstrap_seed = 1;
  double universal_threshold = 0.5;  // multi-way matching (3 nets or more)
  bool quiet = false;
};

// The numbers of one pair of nets in one layer. Dead (zero-variance) units take no part: they are
// left out of every mean, are nobody's partner, and have partner -1 themselves.
struct PairScores {
  double semi_ab = NAN, semi_ba = NAN;    // mean correlation with the best partner, A to B and B to A
  double bipartite = NAN;                 // mean over the best one-to-one matching's pairs
  double within_a = NAN, within_b = NAN;  // mean correlation with the best partner in the same net
  double random = NAN;                    // mean of the live A-B correlations: a random matching's expectation
  double mutual = 0;                      // units that are each other's best partner (a count)
  double same = NAN;                      // fraction of matched units whose bipartite partner is their best
};
// The scores that get bootstrap intervals, by their summary.json key.
struct ScoreField {
  const char* key;
  double PairScores::*field;
};
extern const std::vector<ScoreField> kIntervalScores;

struct PairResult {
  int a = 0, b = 1;                       // net indices
  std::vector<double> between;            // [ca * cb] correlations
  std::vector<int64_t> semi_ab, semi_ba;  // each unit's best partner in the other net (-1: dead unit)
  Assignment bipartite;                   // row (unit of a) -> unit of b (-1: unmatched or dead)
  PairScores scores;
  std::vector<double> mi;  // [ca * cb] nats, bias-corrected; empty unless MI was asked
  Assignment mi_bipartite;
  nlohmann::json summary;  // the numbers bin/correlate prints and writes
};

// Everything per layer that follows from its moments: one call for the estimate, one per bootstrap
// replicate or null net. Pairs (0,1), (0,2), ..., (1,2), ...
struct LayerScores {
  LayerStats stats;
  std::vector<PairResult> pairs;
};
// `summaries`: also each pair's summary JSON (a bootstrap replicate needs only the scores).
LayerScores score_layer(const Moments& m, Solver solver, const Device& dev, bool summaries = true);

struct LayerResult {
  std::string name;
  int hw = 1;  // positions per image (samples per image per unit)
  Moments moments;
  std::vector<Moments> blocks;  // per block of images that got images (empty without blocks)
  LayerStats stats;
  std::vector<PairResult> pairs;  // (0,1), (0,2), ..., (1,2), ...
  nlohmann::json bootstrap;       // intervals (null without a bootstrap or with < 2 blocks); see bootstrap_layer
  nlohmann::json multiway;        // 3 nets or more: cycle consistency and universal units
};

// Under MPI (base/dist.h) every rank calls it with the same arguments: each runs the nets on its
// share of the batches (batch b on rank b % ranks), the sums are added into rank 0 in rank order,
// and rank 0 alone gets the results (the other ranks an empty vector). They equal one process's up
// to float64 rounding: every batch's float32 terms are the same (same batches, same references).
std::vector<LayerResult> correlate_nets(const std::vector<Net*>& nets, const Dataset& data, const CorrelateOptions& opt);

// Per-pair matchings and scores from the finished statistics (also used by tests), and
// `summary`: the scores, dead units, unmatched units, the matched pairs sorted best first.
PairResult compare_pair(const LayerStats& s, const std::vector<int>& units, int a, int b, Solver solver, const Device& dev,
                        bool summary = true);

// Bytes the block moments of these layers need (units per net per layer): the accumulators and
// their host copy. correlate_nets refuses (InputError) when they exceed the memory available.
size_t block_memory_bytes(const std::vector<std::vector<int>>& units_per_layer, int blocks);

// The bootstrap of one layer from its block moments: per pair, a 95% interval of every
// kIntervalScores score (matchings re-solved per replicate by the exact solver), as JSON:
// {"resamples", "blocks", "seed", "seconds", "pairs": [{key: [lo, hi], ...}], "replicates": ...}.
nlohmann::json bootstrap_layer(const std::vector<Moments>& blocks, int resamples, uint64_t seed);

}  // namespace cvg
