// Matching across K >= 3 nets at once, from the bipartite matchings of every pair: which units are
// cycle-consistent (following the matchings A -> B -> C -> A, for every pair B, C of other nets,
// returns the unit one started from) and which are universal (their bipartite partner in every
// other net correlates with them at least `threshold`).
#pragma once
#include <cstdint>
#include <vector>

namespace cvg {

struct UniversalUnit {
  int unit = 0;                  // a unit of the net whose list holds it
  std::vector<int64_t> partner;  // per net (its own net: the unit itself)
  std::vector<double> corr;      // per net (its own net: 1)
};

struct Multiway {
  std::vector<int> consistent;           // per net: its live units that are cycle-consistent
  std::vector<int> live;                 // per net: units that are not dead
  double consistent_fraction = 0;        // sum of consistent / sum of live, over all nets
  // Per net: its universal units, in unit order (the same test from each net; matchings are not
  // always cycle-consistent, so net 1's list need not be the partners of net 0's).
  std::vector<std::vector<UniversalUnit>> universal;
  // Per triple a < b < c (in that order): the fraction of a's live units that a -> b -> c -> a
  // returns; for matchings that were random permutations it would be about 1 / units.
  std::vector<std::vector<int>> triples;
  std::vector<double> triple_fraction;
};

// units[k]: units per net; dead[k]: net k's dead units (never consistent nor universal);
// matching[pair] and between[pair] for the pairs p < q in the order (0,1), (0,2), ..., (1,2), ...:
// row_to_col from p's units to q's (-1: none) and the [c_p, c_q] correlations.
Multiway multiway_matching(const std::vector<int>& units, const std::vector<std::vector<int>>& dead,
                           const std::vector<std::vector<int64_t>>& matching, const std::vector<std::vector<double>>& between,
                           double threshold);

}  // namespace cvg
