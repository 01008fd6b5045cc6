#include "analysis/match/matched_pairs.h"

#include <algorithm>
#include <cmath>

#include "base/io.h"

namespace cvg {

std::vector<MatchedPair> read_matched_pairs(const CorrelateOutput& o, const std::string& layer, int p, int q, int ca, int cb) {
  const std::vector<double> c = read_pair_matrix(o, layer, PairMatrix::Between, p, q, ca, cb);
  const std::vector<int64_t> m = read_pair_assignment(o, layer, p, q, ca, cb);
  std::vector<MatchedPair> pairs;
  for (int i = 0; i < ca; ++i)
    if (m[i] >= 0) pairs.push_back({i, (int)m[i], c[(size_t)i * cb + m[i]]});
  // NaN correlations (none expected: correlate guards zero variance) sort last.
  std::stable_sort(pairs.begin(), pairs.end(), [](const MatchedPair& x, const MatchedPair& y) {
    if (std::isnan(y.correlation)) return !std::isnan(x.correlation);
    return x.correlation > y.correlation;
  });
  return pairs;
}

std::vector<MatchedPair> chosen_pairs(const CorrelateOutput& o, const std::string& layer, int p, int q, int ca, int cb,
                                      const std::vector<std::pair<int, int>>& units) {
  const std::vector<double> c = read_pair_matrix(o, layer, PairMatrix::Between, p, q, ca, cb);
  std::vector<MatchedPair> pairs;
  for (auto [a, b] : units) {
    if (a < 0 || a >= ca || b < 0 || b >= cb)
      throw InputError("--pairs " + std::to_string(a) + ":" + std::to_string(b) + ": " + layer + " has units 0.." +
                       std::to_string(ca - 1) + " in " + o.nets[p].name + " and 0.." + std::to_string(cb - 1) + " in " +
                       o.nets[q].name);
    pairs.push_back({a, b, c[(size_t)a * cb + b]});
  }
  return pairs;
}

}  // namespace cvg
