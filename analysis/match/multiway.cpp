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
  // Whether net a's unit i comes back to itself along a -> b -> c -> a.
  auto cycle_returns = [&](int a, int b, int c, int i) {
    const int64_t j = map[a][b][i];
    const int64_t k = j >= 0 ? map[b][c][j] : -1;
    return k >= 0 && map[c][a][k] == i;
  };
  Multiway r;
  long consistent = 0, live = 0;
  std::vector<std::vector<char>> is_dead(K);
  for (int a = 0; a < K; ++a) {
    is_dead[a].assign(units[a], 0);
    for (int u : dead[a]) is_dead[a][u] = 1;
  }
  for (int a = 0; a < K; ++a) {
    r.consistent.push_back(0), r.live.push_back(0);
    for (int i = 0; i < units[a]; ++i) {
      if (is_dead[a][i]) continue;
      ++r.live[a];
      bool ok = true;
      for (int b = 0; b < K && ok; ++b)
        for (int c = 0; c < K && ok; ++c) {
          if (b == a || c == a || b == c) continue;
          ok = cycle_returns(a, b, c, i);
        }
      r.consistent[a] += ok;
    }
    consistent += r.consistent[a], live += r.live[a];
  }
  r.consistent_fraction = live ? (double)consistent / live : 0;
  for (int a = 0; a < K; ++a)
    for (int b = a + 1; b < K; ++b)
      for (int c = b + 1; c < K; ++c) {
        int back = 0;
        for (int i = 0; i < units[a]; ++i) {
          if (is_dead[a][i]) continue;
          back += cycle_returns(a, b, c, i);
        }
        r.triples.push_back({a, b, c});
        r.triple_fraction.push_back(r.live[a] ? (double)back / r.live[a] : 0);
      }
  r.universal.resize(K);
  for (int a = 0; a < K; ++a) {
    for (int i = 0; i < units[a]; ++i) {
      if (is_dead[a][i]) continue;
      UniversalUnit u{i, {}, {}};
      bool all = true;
      for (int q = 0; q < K && all; ++q) {
        const int64_t j = q == a ? i : map[a][q][i];
        all = j >= 0 && (q == a || corr(a, i, q, j) >= threshold);
        if (all) u.partner.push_back(j), u.corr.push_back(q == a ? 1.0 : corr(a, i, q, j));
      }
      if (all) r.universal[a].push_back(u);
    }
  }
  return r;
}

}  // namespace cvg
