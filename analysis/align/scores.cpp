#include "analysis/align/scores.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "analysis/align/linalg.h"

namespace cvg {

namespace {

double frob2(const std::vector<double>& m) {
  double s = 0;
  for (double x : m) s += x * x;
  return s;
}

double trace(const std::vector<double>& m, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += m[(size_t)i * n + i];
  return s;
}

// A basis of kept eigen-directions, scaled to whiten: rows v_k / sqrt(e_k) [kept x n], and the
// kept eigen-pairs (descending eigenvalue).
struct Whitener {
  int n = 0, kept = 0;
  std::vector<double> rows;     // [kept x n]
  std::vector<double> values;   // [kept]
  std::vector<double> vectors;  // [kept x n] unit eigenvectors
};

Whitener make_whitener(const SymEig& eig, int kept_count) {
  Whitener w;
  w.n = eig.n, w.kept = kept_count;
  for (int k = 0; k < kept_count; ++k) {
    const int src = eig.n - 1 - k;  // eigenvalues come ascending
    const double e = eig.values[src], s = 1.0 / std::sqrt(e);
    w.values.push_back(e);
    for (int j = 0; j < eig.n; ++j) {
      const double v = eig.vectors[(size_t)src * eig.n + j];
      w.vectors.push_back(v);
      w.rows.push_back(v * s);
    }
  }
  return w;
}

// Directions above `cut` times the largest eigenvalue.
int count_above(const SymEig& eig, double cut) {
  if (eig.n == 0) return 0;
  const double top = eig.values.back();
  int kept = 0;
  for (int k = eig.n - 1; k >= 0 && eig.values[k] > cut * top && eig.values[k] > 0; --k) ++kept;
  return kept;
}

// The fewest top directions whose eigenvalues sum to `keep` of the positive total.
int count_for_variance(const SymEig& eig, double keep) {
  double total = 0;
  for (double e : eig.values) total += std::max(e, 0.0);
  if (!(total > 0)) return 0;
  double run = 0;
  int kept = 0;
  for (int k = eig.n - 1; k >= 0 && eig.values[k] > 0; --k) {
    run += eig.values[k], ++kept;
    if (run >= keep * total) break;
  }
  return kept;
}

// Wa M Wb^T for M [na x nb]: the cross-covariance of the whitened coordinates [ka x kb].
std::vector<double> whitened_cross(const Whitener& wa, const Whitener& wb, const std::vector<double>& M) {
  // M Wb^T = (Wb M^T)^T; compute T = M * Wb^T as matmul(M, transpose(Wb)).
  std::vector<double> wbt((size_t)wb.n * wb.kept);
  for (int k = 0; k < wb.kept; ++k)
    for (int j = 0; j < wb.n; ++j) wbt[(size_t)j * wb.kept + k] = wb.rows[(size_t)k * wb.n + j];
  const std::vector<double> t = matmul(M, wbt, wa.n, wb.n, wb.kept);
  return matmul(wa.rows, t, wa.kept, wa.n, wb.kept);
}

double mean(const std::vector<double>& v) { return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }

// PWCCA with one net's canonical variates h_i = z . a_i (z its standardised units, a_i = W u_i):
// alpha_i = sum_j |Cov(x_j, h_i)| = sum_j std_j |(R a_i)_j| and R a_i = sum_k sqrt(e_k) u_i[k] v_k.
double pwcca(const Whitener& w, const std::vector<double>& u, int m, const std::vector<double>& rho,
             const std::vector<double>& stdev) {
  double num = 0, den = 0;
  std::vector<double> ra(w.n);
  for (int i = 0; i < m; ++i) {
    std::fill(ra.begin(), ra.end(), 0.0);
    for (int k = 0; k < w.kept; ++k) {
      const double c = std::sqrt(w.values[k]) * u[(size_t)i * w.kept + k];
      for (int j = 0; j < w.n; ++j) ra[j] += c * w.vectors[(size_t)k * w.n + j];
    }
    double alpha = 0;
    for (int j = 0; j < w.n; ++j) alpha += stdev[j] * std::fabs(ra[j]);
    num += alpha * rho[i], den += alpha;
  }
  return den > 0 ? num / den : 0.0;
}

}  // namespace

GlobalScores global_scores(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                           const std::vector<double>& cov_ab, const ScoreOptions& opt) {
  if (cov_aa.size() != (size_t)na * na || cov_bb.size() != (size_t)nb * nb || cov_ab.size() != (size_t)na * nb)
    throw std::logic_error("global_scores: matrix sizes do not match the unit counts");
  GlobalScores s;
  if (na == 0 || nb == 0) return s;

  // Linear CKA and Procrustes straight from the covariances.
  const double faa = std::sqrt(frob2(cov_aa)), fbb = std::sqrt(frob2(cov_bb));
  s.cka = (faa > 0 && fbb > 0) ? frob2(cov_ab) / (faa * fbb) : 0.0;
  const double tr = std::sqrt(trace(cov_aa, na) * trace(cov_bb, nb));
  if (tr > 0) {
    const std::vector<double> sv = singular_values(cov_ab, na, nb);
    s.procrustes = 2.0 - 2.0 * std::accumulate(sv.begin(), sv.end(), 0.0) / tr;
  }

  // CCA on correlation matrices (scale-free; the caller dropped zero-variance units).
  std::vector<double> sa(na), sb(nb);
  for (int i = 0; i < na; ++i) sa[i] = std::sqrt(std::max(cov_aa[(size_t)i * na + i], 0.0));
  for (int j = 0; j < nb; ++j) sb[j] = std::sqrt(std::max(cov_bb[(size_t)j * nb + j], 0.0));
  for (double x : sa)
    if (!(x > 0)) throw std::logic_error("global_scores: a unit of net A has zero variance (drop it first)");
  for (double x : sb)
    if (!(x > 0)) throw std::logic_error("global_scores: a unit of net B has zero variance (drop it first)");
  std::vector<double> raa(cov_aa), rbb(cov_bb), rab(cov_ab);
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < na; ++j) raa[(size_t)i * na + j] /= sa[i] * sa[j];
  for (int i = 0; i < nb; ++i)
    for (int j = 0; j < nb; ++j) rbb[(size_t)i * nb + j] /= sb[i] * sb[j];
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < nb; ++j) rab[(size_t)i * nb + j] /= sa[i] * sb[j];
  const SymEig ea = sym_eig(raa, na, true), eb = sym_eig(rbb, nb, true);
  const Whitener wa = make_whitener(ea, count_above(ea, opt.rank_cut));
  const Whitener wb = make_whitener(eb, count_above(eb, opt.rank_cut));
  s.cca_rank_a = wa.kept, s.cca_rank_b = wb.kept;
  if (wa.kept > 0 && wb.kept > 0) {
    const Svd d = svd(whitened_cross(wa, wb, rab), wa.kept, wb.kept);
    s.cca = d.s;
    s.cca_mean = mean(s.cca);
    // PWCCA: u rows are in A's whitened coordinates, v rows in B's.
    s.pwcca_a = pwcca(wa, d.u, d.k, d.s, sa);
    s.pwcca_b = pwcca(wb, d.v, d.k, d.s, sb);
    s.pwcca = na <= nb ? s.pwcca_a : s.pwcca_b;
  }

  // SVCCA: principal directions of the raw covariances keeping svcca_keep of the variance.
  const SymEig pa = sym_eig(cov_aa, na, true), pb = sym_eig(cov_bb, nb, true);
  const Whitener va = make_whitener(pa, count_for_variance(pa, opt.svcca_keep));
  const Whitener vb = make_whitener(pb, count_for_variance(pb, opt.svcca_keep));
  s.svcca_dims_a = va.kept, s.svcca_dims_b = vb.kept;
  if (va.kept > 0 && vb.kept > 0) {
    s.svcca = singular_values(whitened_cross(va, vb, cov_ab), va.kept, vb.kept);
    s.svcca_mean = mean(s.svcca);
  }
  return s;
}

}  // namespace cvg
