#include "analysis/align/scores.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

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
      const double v = eig.vectors[(size_t)(src - eig.first_vector) * eig.n + j];
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

// The fewest top directions whose eigenvalues (ascending) sum to `keep` of the positive total.
int count_for_variance(const std::vector<double>& values, double keep) {
  double total = 0;
  for (double e : values) total += std::max(e, 0.0);
  if (!(total > 0)) return 0;
  double run = 0;
  int kept = 0;
  for (int k = (int)values.size() - 1; k >= 0 && values[k] > 0; --k) {
    run += values[k], ++kept;
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

// sum_i alpha_i rho_i / sum_i alpha_i with alpha_i = sum_j stdev_j |ra[i][j]| (ra [m x n]).
double weighted_mean_rho(const std::vector<double>& ra, int m, int n, const std::vector<double>& rho,
                         const std::vector<double>& stdev) {
  double num = 0, den = 0;
  for (int i = 0; i < m; ++i) {
    double alpha = 0;
    for (int j = 0; j < n; ++j) alpha += stdev[j] * std::fabs(ra[(size_t)i * n + j]);
    num += alpha * rho[i], den += alpha;
  }
  return den > 0 ? num / den : 0.0;
}

double mean(const std::vector<double>& v) { return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }

// PWCCA with one net's canonical variates h_i = z . a_i (z its standardised units, a_i = W u_i):
// alpha_i = sum_j |Cov(x_j, h_i)| = sum_j std_j |(R a_i)_j|, and R a_i = sum_k sqrt(e_k) u_i[k] v_k:
// row i of ra = (u diag(sqrt e)) [m x kept] times the eigenvectors [kept x n].
double pwcca(const Whitener& w, const std::vector<double>& u, int m, const std::vector<double>& rho,
             const std::vector<double>& stdev) {
  std::vector<double> us((size_t)m * w.kept);
  for (int i = 0; i < m; ++i)
    for (int k = 0; k < w.kept; ++k) us[(size_t)i * w.kept + k] = u[(size_t)i * w.kept + k] * std::sqrt(w.values[k]);
  return weighted_mean_rho(matmul(us, w.vectors, m, w.kept, w.n), m, w.n, rho, stdev);
}

// Correlation matrices (and the standard deviations) from the covariances.
struct Standardised {
  std::vector<double> sa, sb, raa, rbb, rab;
};
Standardised standardise(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                         const std::vector<double>& cov_ab) {
  Standardised z{std::vector<double>(na), std::vector<double>(nb), cov_aa, cov_bb, cov_ab};
  for (int i = 0; i < na; ++i) z.sa[i] = std::sqrt(std::max(cov_aa[(size_t)i * na + i], 0.0));
  for (int j = 0; j < nb; ++j) z.sb[j] = std::sqrt(std::max(cov_bb[(size_t)j * nb + j], 0.0));
  for (double x : z.sa)
    if (!(x > 0)) throw std::logic_error("global_scores: a unit of net A has zero variance (drop it first)");
  for (double x : z.sb)
    if (!(x > 0)) throw std::logic_error("global_scores: a unit of net B has zero variance (drop it first)");
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < na; ++j) z.raa[(size_t)i * na + j] /= z.sa[i] * z.sa[j];
  for (int i = 0; i < nb; ++i)
    for (int j = 0; j < nb; ++j) z.rbb[(size_t)i * nb + j] /= z.sb[i] * z.sb[j];
  for (int i = 0; i < na; ++i)
    for (int j = 0; j < nb; ++j) z.rab[(size_t)i * nb + j] /= z.sa[i] * z.sb[j];
  return z;
}

// Linear CKA and Procrustes straight from the covariances.
void cka_procrustes(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                    const std::vector<double>& cov_ab, double& cka, double& procrustes) {
  const double faa = std::sqrt(frob2(cov_aa)), fbb = std::sqrt(frob2(cov_bb));
  cka = (faa > 0 && fbb > 0) ? frob2(cov_ab) / (faa * fbb) : 0.0;
  const double tr = std::sqrt(trace(cov_aa, na) * trace(cov_bb, nb));
  procrustes = 0;
  if (tr > 0) {
    const std::vector<double> sv = singular_values(cov_ab, na, nb);
    // In [0, 2] exactly; rounding can step past 0 for a net compared with itself (-4e-16 printed as -0.0000).
    procrustes = std::clamp(2.0 - 2.0 * std::accumulate(sv.begin(), sv.end(), 0.0) / tr, 0.0, 2.0);
  }
}

// CCA (with both PWCCA weightings) through the eigen-decompositions of R_aa and R_bb, whose rank
// cut drops null directions.
void cca_eigen(const Standardised& z, int na, int nb, const ScoreOptions& opt, GlobalScores& s) {
  const SymEig ea = sym_eig(z.raa, na, true), eb = sym_eig(z.rbb, nb, true);
  const Whitener wa = make_whitener(ea, count_above(ea, opt.rank_cut));
  const Whitener wb = make_whitener(eb, count_above(eb, opt.rank_cut));
  s.cca_rank_a = wa.kept, s.cca_rank_b = wb.kept;
  if (wa.kept > 0 && wb.kept > 0) {
    const Svd d = svd(whitened_cross(wa, wb, z.rab), wa.kept, wb.kept);
    s.cca = d.s;
    s.cca_mean = mean(s.cca);
    // PWCCA: u rows are in A's whitened coordinates, v rows in B's.
    s.pwcca_a = pwcca(wa, d.u, d.k, d.s, z.sa);
    s.pwcca_b = pwcca(wb, d.v, d.k, d.s, z.sb);
    s.pwcca = na <= nb ? s.pwcca_a : s.pwcca_b;
  }
}

// SVCCA: principal directions of the raw covariances keeping svcca_keep of the variance (the
// eigenvectors of only those: fc layers keep ~1/3).
void svcca(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
           const std::vector<double>& cov_ab, const ScoreOptions& opt, GlobalScores& s) {
  auto kept = [&](const std::vector<double>& values) { return count_for_variance(values, opt.svcca_keep); };
  const SymEig pa = sym_eig_top(cov_aa, na, kept), pb = sym_eig_top(cov_bb, nb, kept);
  const Whitener va = make_whitener(pa, pa.n - pa.first_vector);
  const Whitener vb = make_whitener(pb, pb.n - pb.first_vector);
  s.svcca_dims_a = va.kept, s.svcca_dims_b = vb.kept;
  if (va.kept > 0 && vb.kept > 0) {
    s.svcca = singular_values(whitened_cross(va, vb, cov_ab), va.kept, vb.kept);
    s.svcca_mean = mean(s.svcca);
  }
}

// A Cholesky factor L (R = L L^T) of a correlation matrix whose every eigenvalue is clearly above
// rank_cut times the largest, so that cca_eigen's rank cut would keep every direction; false when
// that does not hold (then the eigen path decides). First a free bound (lambda_min = 1 / ||R^-1||_2
// >= 1 / ||L^-1||_F^2, lambda_max <= trace R); then a proof by factoring: R - c I positive definite
// (its Cholesky factor exists) means lambda_min > c, and c = 2 rank_cut ||R||_inf >= 2 rank_cut
// lambda_max (any induced norm bounds the spectral radius); when neither tells, the eigenvalues
// themselves (without vectors). Both later tests keep a factor 2 margin over the cut, far above
// their rounding (~n eps lambda_max), so the decision is never one the eigen path would take the
// other way, and the factoring test says yes only where the eigenvalue test would too.
bool full_rank_factor(const std::vector<double>& R, int n, double rank_cut, std::vector<double>& L) {
  if (!cholesky(R, n, L)) return false;
  if (1.0 / frob2(lower_inverse(L, n)) > rank_cut * trace(R, n)) return true;
  double row_max = 0;
  for (int i = 0; i < n; ++i) {
    double row = 0;
    for (int j = 0; j < n; ++j) row += std::fabs(R[(size_t)i * n + j]);
    row_max = std::max(row_max, row);
  }
  std::vector<double> shifted = R, unused;
  for (int i = 0; i < n; ++i) shifted[(size_t)i * n + i] -= 2 * rank_cut * row_max;
  if (cholesky(shifted, n, unused)) return true;
  const SymEig e = sym_eig(R, n, false);
  return e.values.front() > 2 * rank_cut * e.values.back();
}

// Throws std::logic_error when the matrices do not fit the unit counts; false when a net has none.
bool check_sizes(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                 const std::vector<double>& cov_ab, const char* who) {
  if (cov_aa.size() != (size_t)na * na || cov_bb.size() != (size_t)nb * nb || cov_ab.size() != (size_t)na * nb)
    throw std::logic_error(std::string(who) + ": matrix sizes do not match the unit counts");
  return na > 0 && nb > 0;
}

}  // namespace

bool cca_summary_cholesky(const std::vector<double>& raa, int na, const std::vector<double>& rbb, int nb,
                          const std::vector<double>& rab, const std::vector<double>& sa, const std::vector<double>& sb,
                          bool weights_from_a, const ScoreOptions& opt, double& cca_mean, double& pwcca_value) {
  std::vector<double> la, lb;
  if (!full_rank_factor(raa, na, opt.rank_cut, la) || !full_rank_factor(rbb, nb, opt.rank_cut, lb)) return false;
  // Whitened coordinates y = L^-1 z: their cross-covariance C = L_a^-1 R_ab L_b^-T has the canonical
  // correlations as singular values; a canonical weight a_i = L^-T u_i, so R a_i = L u_i.
  std::vector<double> c = rab;
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, na, nb, 1.0, la.data(), na, c.data(), nb);
  cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, na, nb, 1.0, lb.data(), nb, c.data(), nb);
  // Only the weighting net's singular vectors are needed: the eigenvectors of its Gram (C C^T, or
  // C^T C for B), ~2x cheaper than the SVD. Its eigenvalues are rho_i^2 to ~n eps (|C| <= 1), so a
  // rho_i >= 0.01 is within ~n eps / (2 rho_i) ~ 1e-12 of the SVD's.
  const int n = weights_from_a ? na : nb, other = weights_from_a ? nb : na;
  std::vector<double> gram((size_t)n * n, 0.0);
  cblas_dsyrk(CblasRowMajor, CblasLower, weights_from_a ? CblasNoTrans : CblasTrans, n, other, 1.0, c.data(), nb, 0.0,
              gram.data(), n);
  const SymEig e = sym_eig(gram, n, true, {EigOptions::Cpu});
  const int k = std::min(na, nb);  // the top k (all when the weighting net is the narrower)
  std::vector<double> rho(k), u((size_t)k * n);
  for (int i = 0; i < k; ++i) {  // descending, as an SVD gives them
    rho[i] = std::sqrt(std::max(e.values[n - 1 - i], 0.0));
    std::copy_n(&e.vectors[(size_t)(n - 1 - i) * n], n, &u[(size_t)i * n]);
  }
  cca_mean = mean(rho);
  const std::vector<double>& l = weights_from_a ? la : lb;
  cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, k, n, 1.0, l.data(), n, u.data(), n);
  pwcca_value = weighted_mean_rho(u, k, n, rho, weights_from_a ? sa : sb);
  return true;
}

namespace {

// Both entry points: with `summary`, CCA takes the Cholesky path where it applies (and then fills
// only cca_mean and pwcca of the CCA fields).
GlobalScores scores(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                    const std::vector<double>& cov_ab, const ScoreOptions& opt, bool summary, const char* who) {
  GlobalScores s;
  if (!check_sizes(cov_aa, na, cov_bb, nb, cov_ab, who)) return s;
  cka_procrustes(cov_aa, na, cov_bb, nb, cov_ab, s.cka, s.procrustes);
  // CCA on correlation matrices (scale-free; the caller dropped zero-variance units).
  const Standardised z = standardise(cov_aa, na, cov_bb, nb, cov_ab);
  if (!summary || !cca_summary_cholesky(z.raa, na, z.rbb, nb, z.rab, z.sa, z.sb, na <= nb, opt, s.cca_mean, s.pwcca))
    cca_eigen(z, na, nb, opt, s);
  svcca(cov_aa, na, cov_bb, nb, cov_ab, opt, s);
  return s;
}

}  // namespace

ScoreSummary score_summary(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                           const std::vector<double>& cov_ab, const ScoreOptions& opt) {
  const GlobalScores s = scores(cov_aa, na, cov_bb, nb, cov_ab, opt, true, "score_summary");
  ScoreSummary r;
  r.cka = s.cka, r.cca_mean = s.cca_mean, r.svcca_mean = s.svcca_mean, r.pwcca = s.pwcca, r.procrustes = s.procrustes;
  return r;
}

GlobalScores global_scores(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                           const std::vector<double>& cov_ab, const ScoreOptions& opt) {
  return scores(cov_aa, na, cov_bb, nb, cov_ab, opt, false, "global_scores");
}

}  // namespace cvg
