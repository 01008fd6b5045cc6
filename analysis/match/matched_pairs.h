// The matched unit pairs of a layer of two nets from bin/correlate's output (analysis/stats/correlate_io.h
// picks the pair's files and orients them): net p's units are always `a`, net q's `b`.
#pragma once
#include <string>
#include <vector>

#include "analysis/stats/correlate_io.h"

namespace cvg {

struct MatchedPair {
  int a = 0, b = 0;  // unit of net p, its partner in net q
  double correlation = 0;
};

// The bipartite pairs of nets p and q (indices into o.nets) sorted best first (highest correlation;
// ties by unit of p). The layer must have ca units in net p and cb in net q. Throws InputError
// "<file>: <what>" for a wrong dtype or shape, an assignment out of range or one that uses a column
// twice.
std::vector<MatchedPair> read_matched_pairs(const CorrelateOutput& o, const std::string& layer, int p, int q, int ca, int cb);

// Specific pairs "5:39,7:2" (unit of net p : unit of net q) with their correlations; InputError for
// a unit out of range.
std::vector<MatchedPair> chosen_pairs(const CorrelateOutput& o, const std::string& layer, int p, int q, int ca, int cb,
                                      const std::vector<std::pair<int, int>>& units);

}  // namespace cvg
