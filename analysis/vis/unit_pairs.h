// bin/visualize's work: which units of a layer of two nets to show (matched pairs from bin/correlate's
// output, chosen pairs, single units), and, from the top-k tables of one pass over the data, their
// figures (analysis/vis/figure.h) and the JSON record of each layer (docs/OUTPUTS.md: vis_<mode>.json).
// Net A is side 0, net B side 1.
#pragma once
#include <array>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/match/matched_pairs.h"
#include "analysis/stats/topk.h"
#include "analysis/vis/deconv.h"
#include "analysis/vis/figure.h"

namespace cvg {

struct VisRequest {
  ProjectionMode mode = ProjectionMode::Deconv;
  int k = 9;               // top images per unit
  bool best_worst = true;  // the best and worst matched pairs
  size_t best = 8, worst = 8;
  bool want_chosen = false;                 // --pairs
  std::vector<std::pair<int, int>> chosen;  // (unit of A, unit of B)
  std::vector<int> units;                   // single units of net `units_side`
  int units_side = 0;
  bool needs_correlate() const { return best_worst || want_chosen; }
};

// One layer to show: its width in each net and the pairs and units to draw.
struct VisLayer {
  std::string name;
  int units[2] = {0, 0};
  std::vector<MatchedPair> best, worst, chosen;  // worst: worst first
  size_t matched = 0;                            // pairs of the bipartite matching (ranks 1..matched; best_worst only)
  std::set<int> need[2];                         // units whose patches are drawn, per side
};

// The layer's pairs of nets p (A) and q (B) from `corr` (null when the request needs none), read
// before the long pass so that a missing or wrong file fails fast. The nets must be comparable in
// the layer (nn/run.h) and their units see the same input windows (InputError otherwise: the
// patches are cropped alike); UsageError for a --units unit out of range.
VisLayer plan_layer(const std::string& layer, const std::array<Net*, 2>& nets, const CorrelateOutput* corr, int p, int q,
                    const VisRequest& req);

// A PNG to write, as OUT/<layer>/<file>, and what the tool says about it after "wrote <path>".
struct VisFigure {
  std::string file;
  Image image;
  std::string note;
};

struct VisLayerResult {
  std::vector<VisFigure> figures;
  nlohmann::json doc;  // the layer's part of vis_<mode>.json (the tool adds the nets and the data)
};

// Renders the layer: each needed unit's top patches (cropped to its receptive field in `nets`[0]'s
// config) and their projections, the pair figures and single units. top[side]: the layer's top-k
// table of that net; names: how the figures call nets A and B.
VisLayerResult draw_layer(const VisLayer& L, const std::array<Net*, 2>& nets, const std::array<const TopTable*, 2>& top,
                          const Dataset& data, const VisRequest& req, const std::array<std::string, 2>& names);

}  // namespace cvg
