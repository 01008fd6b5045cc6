// Permuted nets: the units of a net reordered without changing what it computes (up to the LRN
// across channels, which mixes neighbouring channels and so commutes only with permutations that
// keep every window's set of channels, such as a reversal).
//
// Reordering the units of a conv or fc layer L by p (new unit i = old unit p[i]) moves L's weight
// rows, biases and their momenta, and the matching input columns of the next conv or fc layer; when
// that next layer is an fc after a conv (fc6 after conv5's pooled map), each channel's block of
// h*w flattened inputs moves as a whole. The classifier (the layer feeding the loss) keeps its
// order: its units are the classes.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "analysis/stats/correlate_io.h"
#include "nn/net.h"

namespace cvg {

// layer name -> p, a permutation of the layer's units: new unit i = old unit p[i].
using UnitPermutations = std::map<std::string, std::vector<int>>;

// The layers whose units may be permuted: every conv and fc layer but the classifier.
std::vector<std::string> permutable_layers(const Net& net);

// Channel groups (a conv layer with "group" G > 1 wires its output group g to input group g only)
// allow moving whole groups: the units of a grouped layer, and of the layer feeding it, may go to
// another group only as a block, and both by the same reordering of the groups. Grouped layers
// chained through such links (CaffeNet: conv1-conv2, conv3-conv4-conv5) share one group order.
struct GroupChain {
  std::vector<std::string> layers;  // its permutable layers, in net order
  int groups = 1;
  bool fixed = false;  // the group order may not change: the chain reaches the image or the classifier
};
// Throws InputError when a chain mixes group counts (not supported).
std::vector<GroupChain> group_chains(const Net& net);

// Applies the permutations in place. Throws InputError for an unknown or classifier layer, a p that
// is not a permutation of the layer's units, or one that breaks the channel groups (GroupChain).
void permute_units(Net& net, const UnitPermutations& perms);

// The permutations that put net B's units into net A's order, for every permutable layer of `b`,
// from a one-to-one matching per layer: row_to_col[layer][i] = the unit of B matched to A's unit i.
// Units without a partner (-1: dead units, which bin/correlate leaves out of the matching) are
// paired in ascending order with B's units left over. Throws InputError when a layer is missing,
// its matching has the wrong length, or it is not one-to-one.
using LayerMatchings = std::map<std::string, std::vector<int64_t>>;
UnitPermutations permutations_from_matching(const LayerMatchings& row_to_col, const Net& b);

// One chain's matching under its group constraint, from its layers' A-B correlations (rows net A,
// units x units each) and live units: the best matching of the live units of A's group g to B's
// group h in every layer, for every (g, h); then the group order (B's group for A's group g) that
// maximises the sum over the chain, itself an assignment over the groups (the identity when `fixed`).
struct ChainLayer {
  int units = 0;
  std::vector<double> C;
  std::vector<char> live_a, live_b;
};
struct ChainMatching {
  std::vector<int64_t> group_order;
  std::vector<std::vector<int64_t>> row_to_col;  // per layer: B's unit for A's unit i, -1 for none
  double objective = 0;                          // the summed correlation of the matched pairs
};
ChainMatching match_chain(const std::vector<ChainLayer>& layers, int groups, bool fixed);

// How a layer's permutation was matched (bin/permute's table and permute.json).
struct MatchingReport {
  int groups = 1;                // 1: bin/correlate's matching as stored
  std::vector<int> group_order;  // groups > 1: net B's group put in place of group g
  double mean_corr = 0;          // mean A-B correlation over the matched live pairs
  double correlate_mean_corr = 0;  // the same for bin/correlate's matching, which ignores groups
};

// The permutations that put net B's units into net A's order, from bin/correlate's output for nets
// `a` and `b` (indices into o.nets). Layers outside every GroupChain take the stored bipartite
// matching; a chain's layers are matched again by match_chain from the stored correlations. Dead
// units fill the places left in their group, in ascending order. `report`: the chains' layers.
UnitPermutations matching_permutations(const CorrelateOutput& o, int a, int b, const Net& net_b,
                                       std::map<std::string, MatchingReport>* report = nullptr);

}  // namespace cvg
