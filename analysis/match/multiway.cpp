#include "analysis/match/multiway.h"

#include <stdexcept>

namespace cvg {

Multiway multiway_matching(const std::vector<int>& units, const std::vector<std::vector<int>>& dead,
                           const std::vector<std::vector<int64_t>>& matching, const std::vector<std::vector<double>>& between,
                           double threshold) {
  const int K = (int)units.size();
  if (K < 3) throw std::logic_error("multiway_matching: needs at least three nets");
  if ((int)matching.size() != K * (K - 1) / 2 || between.size() != matching.size())
    throw std::logic_error("multiway_matching: one matching and one correlation matrix per pair");
  auto pair_of = [&](int p, int q) { return p * (2 * K - p - 1) / 2 + (q - p - 1); };  // p < q
  // map[p][q][i]: net q's partner of net p's unit i, either direction.
  std::vector<std::vector<std::vector<int64_t>>> map(K, std::vector<std::vector<int64_t>>(K));
  for (int p = 0; p < K; ++p)
    for (int q = p + 1; q < K; ++q) {
      const std::vector<int64_t>& m = matching[pair_of(p, q)];
      if ((int)m.size() != units[p]) throw std::logic_error("multiway_matching: a matching has the wrong length");
      map[p][q] = m;
      map[q][p].assign(units[q], -1);
      for (int i = 0; i < units[p]; ++i)
        if (m[i] >= 0) map[q][p][m[i]] = i;
    }
  auto corr = [&](int p, int i, int q, int64_t j) {
    return p < q ? between[pair_of(p, q)][(size_t)i * units[q] + j] : between[pair_of(q, p)][(size_t)j * units[p] + i];
  };
  Multiway r;
  long consistent = 0, live = 0;
  for (int a = 0; a < K; ++a) {
    std::vector<char> is_dead(units[a], 0);
    for (int u : dead[a]) is_dead[u] = 1;
    r.consistent.push_back(0), r.live.push_back(0);
    for (int i = 0; i < units[a]; ++i) {
      if (is_dead[i]) continue;
      ++r.live[a];
      bool ok = true;
      for (int b = 0; b < K && ok; ++b)
        for (int c = 0; c < K && ok; ++c) {
          if (b == a || c == a || b == c) continue;
          const int64_t j = map[a][b][i];
          const int64_t k = j >= 0 ? map[b][c][j] : -1;
          ok = k >= 0 && map[c][a][k] == i;
        }
      r.consistent[a] += ok;
    }
    consistent += r.consistent[a], live += r.live[a];
  }
  r.consistent_fraction = live ? (double)consistent / live : 0;
  std::vector<char> dead0(units[0], 0);
  for (int u : dead[0]) dead0[u] = 1;
  for (int i = 0; i < units[0]; ++i) {
    if (dead0[i]) continue;
    UniversalUnit u{i, {i}, {1.0}};
    bool all = true;
    for (int q = 1; q < K && all; ++q) {
      const int64_t j = map[0][q][i];
      all = j >= 0 && corr(0, i, q, j) >= threshold;
      if (all) u.partner.push_back(j), u.corr.push_back(corr(0, i, q, j));
    }
    if (all) r.universal.push_back(u);
  }
  return r;
}

}  // namespace cvg
