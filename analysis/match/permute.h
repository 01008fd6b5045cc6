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

// Applies the permutations in place. Throws InputError for an unknown or classifier layer, a p that
// is not a permutation of the layer's units, or one that moves a unit across channel groups.
void permute_units(Net& net, const UnitPermutations& perms);

// The permutations that put net B's units into net A's order, for every permutable layer of `b`,
// from a one-to-one matching per layer: row_to_col[layer][i] = the unit of B matched to A's unit i.
// Units without a partner (-1: dead units, which bin/correlate leaves out of the matching) are
// paired in ascending order with B's units left over. Throws InputError when a layer is missing,
// its matching has the wrong length, or it is not one-to-one.
using LayerMatchings = std::map<std::string, std::vector<int64_t>>;
UnitPermutations permutations_from_matching(const LayerMatchings& row_to_col, const Net& b);

// The same from bin/correlate's bipartite matchings of nets `a` and `b` (indices into o.nets).
UnitPermutations matching_permutations(const CorrelateOutput& o, int a, int b, const Net& net_b);

}  // namespace cvg
