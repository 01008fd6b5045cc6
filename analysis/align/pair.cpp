#include "analysis/align/pair.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "base/errors.h"

namespace cvg {

namespace {

// Covariance of net p's units (all of them) from its moments: gram/N - (sum/N)(sum/N)^T.
std::vector<double> covariance(const Moments& m, int p) {
  const int c = m.units[p];
  const double N = m.count;
  std::vector<double> cov((size_t)c * c);
  for (int i = 0; i < c; ++i)
    for (int j = 0; j <= i; ++j) {
      const double v = m.gram[p][(size_t)i * c + j] / N - (m.sum[p][i] / N) * (m.sum[p][j] / N);
      cov[(size_t)i * c + j] = cov[(size_t)j * c + i] = v;  // exactly symmetric
    }
  return cov;
}

std::vector<int> complement(int c, const std::vector<int>& zero) {
  std::vector<char> is_zero(c, 0);
  for (int u : zero) is_zero[u] = 1;
  std::vector<int> v;
  for (int u = 0; u < c; ++u)
    if (!is_zero[u]) v.push_back(u);
  return v;
}

}  // namespace

PairMoments pair_moments(const Moments& m, int a, int b) {
  if (a < 0 || b < 0 || a >= m.nets() || b >= m.nets() || a == b)
    throw std::logic_error("pair_moments: need two different nets of the moments");
  if (!(m.count > 0)) throw InputError("pair_moments: no samples were accumulated");
  const LayerStats st = finalize(m);
  PairMoments pm;
  pm.count = m.count;
  pm.units_a = m.units[a], pm.units_b = m.units[b];
  pm.zero_a = st.zero_variance[a], pm.zero_b = st.zero_variance[b];
  pm.valid_a = complement(pm.units_a, pm.zero_a), pm.valid_b = complement(pm.units_b, pm.zero_b);
  const int na = pm.na(), nb = pm.nb();

  const std::vector<double> ca = covariance(m, a), cb = covariance(m, b);
  auto subset = [](const std::vector<double>& full, int c, const std::vector<int>& idx) {
    const size_t n = idx.size();
    std::vector<double> s(n * n);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) s[i * n + j] = full[(size_t)idx[i] * c + idx[j]];
    return s;
  };
  pm.cov_aa = subset(ca, pm.units_a, pm.valid_a);
  pm.cov_bb = subset(cb, pm.units_b, pm.valid_b);
  for (int i = 0; i < na; ++i) pm.std_a.push_back(std::sqrt(pm.cov_aa[(size_t)i * na + i]));
  for (int j = 0; j < nb; ++j) pm.std_b.push_back(std::sqrt(pm.cov_bb[(size_t)j * nb + j]));

  // Cross covariance: the stored pair is (min, max); a > b reads it transposed.
  const int lo = std::min(a, b), hi = std::max(a, b);
  const std::vector<double>& C = m.cross[m.pair_index(lo, hi)];
  const int c_hi = m.units[hi];
  const double N = m.count;
  pm.cov_ab.resize((size_t)na * nb);
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < nb; ++j) {
      const int ua = pm.valid_a[i], ub = pm.valid_b[j];
      const double s = a < b ? C[(size_t)ua * c_hi + ub] : C[(size_t)ub * c_hi + ua];
      pm.cov_ab[(size_t)i * nb + j] = s / N - (m.sum[a][ua] / N) * (m.sum[b][ub] / N);
    }

  auto correlate = [](const std::vector<double>& cov, const std::vector<double>& sr, const std::vector<double>& sc, bool square) {
    const size_t r = sr.size(), c = sc.size();
    std::vector<double> out(r * c);
    for (size_t i = 0; i < r; ++i)
      for (size_t j = 0; j < c; ++j) out[i * c + j] = (square && i == j) ? 1.0 : cov[i * c + j] / (sr[i] * sc[j]);
    return out;
  };
  pm.corr_aa = correlate(pm.cov_aa, pm.std_a, pm.std_a, true);
  pm.corr_bb = correlate(pm.cov_bb, pm.std_b, pm.std_b, true);
  pm.corr_ab = correlate(pm.cov_ab, pm.std_a, pm.std_b, false);
  return pm;
}

std::vector<double> joint_correlation(const PairMoments& pm) {
  const int na = pm.na(), nb = pm.nb(), n = na + nb;
  std::vector<double> J((size_t)n * n);
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < na; ++j) J[(size_t)i * n + j] = pm.corr_aa[(size_t)i * na + j];
  for (int i = 0; i < nb; ++i)
    for (int j = 0; j < nb; ++j) J[(size_t)(na + i) * n + na + j] = pm.corr_bb[(size_t)i * nb + j];
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < nb; ++j) J[(size_t)i * n + na + j] = J[(size_t)(na + j) * n + i] = pm.corr_ab[(size_t)i * nb + j];
  return J;
}

}  // namespace cvg
