// Per-layer results over every pair of K nets, with the spread that matters for the paper's claims:
// the variation between nets (seeds), not between images. docs/PAPER.md ("Which uncertainty
// matters") says why. Four nets give six pairs that share nets, so the nets are resampled, not the
// pairs: a draw picks K nets with replacement, its value is the mean over the pairs of draw
// positions holding two different nets. Every one of the K^K draws is enumerated when there are at
// most kMaxExactDraws of them (K <= 6), so the interval has no seed; otherwise `draws` seeded ones.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cvg {

constexpr long long kMaxExactDraws = 50000;

// A statistic of one layer for every pair of K nets: value[a * K + b] for a < b (the rest unused).
using PairValues = std::vector<double>;

struct Spread {
  double mean = 0, min = 0, max = 0;  // over the pairs
  double lo = 0, hi = 0;              // 95% interval of the mean over pairs, from resampling the nets
  bool decided = false;               // false with fewer than 3 nets: the nets give no spread
};

class NetResampler {
 public:
  NetResampler(int nets, int draws = 2000, uint64_t seed = 1);
  int nets() const { return k_; }
  bool exact() const { return exact_; }
  // The statistic's value (mean over pairs) in every draw that holds two different nets.
  std::vector<double> replicates(const PairValues& v) const;
  Spread spread(const PairValues& v) const;
  // x - y pair by pair, e.g. conv1's bipartite mean minus conv4's: the paired comparison is tighter
  // than two separate intervals because both layers move with the same nets.
  Spread difference(const PairValues& x, const PairValues& y) const;

 private:
  int k_;
  bool exact_;
  std::vector<std::vector<int>> draws_;  // each: K net indices
};

// The paper's Net1-vs-Net2 figures (docs/PAPER.md), or negative when the paper has none for `layer`.
struct PaperFigures {
  double semi = -1, bipartite = -1, same_partner = -1;
};
PaperFigures paper_figures(const std::string& layer);
// The paper's sparse-prediction losses per L1 penalty (SGD 1x1 conv, validation, Net2 <- Net1;
// docs/PAPER.md), for conv1 and conv2; empty for other layers.
std::map<double, double> paper_sparse_loss(const std::string& layer);

// Per layer, over pairs of nets: semi-matching (mean of both directions), bipartite mean, and the
// share of units whose MI partner is their correlation partner (empty when MI was not computed).
struct LayerPairStats {
  std::string layer;
  PairValues semi, bipartite, mi_agree, random;  // random: the random-matching baseline
};
struct LayerResult;
// From bin/correlate's per-layer results for `nets` nets (each pair's summary numbers).
std::vector<LayerPairStats> pair_stats(const std::vector<LayerResult>& layers, int nets);
// [{"layer": name, "semi": Spread, "bipartite": ..., "random": ..., "mi_agree": ...}] for summary.json.
nlohmann::json over_pairs_json(const std::vector<LayerPairStats>& layers, const NetResampler& nets);

// One of the paper's qualitative claims checked against our nets: "supported" when the 95% interval
// of every comparison it needs is on its side of zero, "contradicted" when one is on the other side,
// otherwise "cannot decide". `evidence` gives the numbers.
struct ClaimVerdict {
  std::string claim, verdict, evidence;
};
std::vector<ClaimVerdict> paper_claims(const std::vector<LayerPairStats>& layers, const NetResampler& nets);

nlohmann::json to_json(const Spread& s);
nlohmann::json to_json(const ClaimVerdict& c);

}  // namespace cvg
