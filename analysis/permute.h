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

#include "nn/net.h"

namespace cvg {

// layer name -> p, a permutation of the layer's units: new unit i = old unit p[i].
using UnitPermutations = std::map<std::string, std::vector<int>>;

// The layers whose units may be permuted: every conv and fc layer but the classifier.
std::vector<std::string> permutable_layers(const Net& net);

// Applies the permutations in place. Throws InputError for an unknown or classifier layer, a p that
// is not a permutation of the layer's units, or one that moves a unit across channel groups.
void permute_units(Net& net, const UnitPermutations& perms);

// The permutations that put net B's units into net A's order, from bin/correlate's bipartite
// matching of A (row) and B (column) in `correlate_dir`, for every permutable layer of `b`.
// Throws InputError when a layer's files are missing or its matching does not cover every unit.
UnitPermutations matching_permutations(const std::string& correlate_dir, const Net& b);

}  // namespace cvg
