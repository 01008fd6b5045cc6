// The matched unit pairs of a layer from bin/correlate's files:
//   DIR/<layer>/between_0_1.npy    float64 [cA, cB]  correlation of unit i of net A with unit j of net B
//   DIR/<layer>/bipartite_0_1.npy  int64 [cA]        the one-to-one assignment row -> column, -1 unmatched
#pragma once
#include <string>
#include <vector>

namespace cvg {

struct MatchedPair {
  int a = 0, b = 0;          // unit of net A, its partner in net B
  double correlation = 0;
};

// The matched pairs sorted best first (highest correlation; ties by unit of A). Throws InputError
// "<file>: <what>" for a missing file, a wrong dtype or shape (it must be [ca, cb] and [ca]), an
// assignment out of range or one that uses a column twice.
std::vector<MatchedPair> read_matched_pairs(const std::string& dir, const std::string& layer, int ca, int cb);

}  // namespace cvg
