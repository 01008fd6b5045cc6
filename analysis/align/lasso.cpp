#include "analysis/align/lasso.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "analysis/align/active_factor.h"
#include "analysis/align/linalg.h"

namespace cvg {

namespace {

double soft_threshold(double z, double t) { return z > t ? z - t : (z < -t ? z + t : 0.0); }

// One pass of coordinate descent over `coords`; returns the largest weight change, measured as
// |delta w_j| * sqrt(G_jj) (the change in the prediction, in target units).
double sweep(const double* G, int n, double lambda, double* w, double* g, const int* coords, int m) {
  double biggest = 0;
  for (int k = 0; k < m; ++k) {
    const int j = coords[k];
    const double gjj = G[(size_t)j * n + j];
    if (!(gjj > 0)) continue;
    const double wj = w[j];
    const double fresh = soft_threshold(g[j] + gjj * wj, lambda) / gjj;
    const double d = fresh - wj;
    if (d == 0) continue;
    w[j] = fresh;
    const double* row = G + (size_t)j * n;  // G symmetric: row j = column j
    for (int i = 0; i < n; ++i) g[i] -= d * row[i];
    biggest = std::max(biggest, std::fabs(d) * std::sqrt(gjj));
  }
  return biggest;
}

struct Objective {
  double mse, gap;
};

// mse = s_yy - 2 w.r + w^T G w = s_yy - w.r - w.g (since G w = r - g). The dual point scales the
// residual by s = min(1, lambda / |g|_inf) so that it is feasible (header). With the primal
// P = mse/2 + lambda |w|_1 and the dual D = s (s_yy - w.r) - s^2 mse / 2, and s_yy - w.r = mse + w.g,
//   P - D = (1 - s)^2 mse / 2 + lambda |w|_1 - s w.g,
// which is how it is computed: no O(s_yy) terms cancel, so the gap stays accurate near 0.
Objective objective(int n, const double* r, double syy, double lambda, const double* w, const double* g) {
  double wr = 0, wg = 0, l1 = 0, gmax = 0;
  for (int j = 0; j < n; ++j) {
    wr += w[j] * r[j], wg += w[j] * g[j], l1 += std::fabs(w[j]);
    gmax = std::max(gmax, std::fabs(g[j]));
  }
  const double mse = syy - wr - wg;
  const double s = gmax > lambda ? lambda / gmax : 1.0;
  return {mse, 0.5 * (1 - s) * (1 - s) * std::max(mse, 0.0) + lambda * l1 - s * wg};
}

// Least squares (lambda = 0) has no useful dual point of this kind (a feasible one must be
// orthogonal to every source), so its stopping measure is the largest squared correlation-scale
// gradient, max_j g_j^2 / G_jj: the fraction of the target's variance one more step on source j
// would still explain is at most that over s_yy.
double gradient_size(const double* G, int n, const double* g) {
  double worst = 0;
  for (int j = 0; j < n; ++j) {
    const double gjj = G[(size_t)j * n + j];
    if (gjj > 0) worst = std::max(worst, g[j] * g[j] / gjj);
  }
  return worst;
}

void residual_covariance(const double* G, int n, const double* r, const double* w, double* g) {
  // Column by column over the non-zero weights only (most are 0 at large penalties), each column a
  // row of the symmetric G; every g_i sums its terms in weight order.
  std::copy(r, r + n, g);
  for (int j = 0; j < n; ++j) {
    const double wj = w[j];
    if (wj == 0) continue;
    const double* col = G + (size_t)j * n;
#pragma omp simd
    for (int i = 0; i < n; ++i) g[i] -= wj * col[i];
  }
}

// Coordinate descent crawls along the ill-conditioned directions of G (fc layers: smallest
// eigenvalues ~1e-4 of the largest); Newton steps finish the job. On the active set A (the
// factor's) with signs s, f is a convex quadratic whose minimiser z solves G_AA z = r_A - lambda s_A.
// Two candidates:
//   projected: z with the weights whose sign flipped set to 0 (usually right once A is nearly
//              right, and drops several wrong weights at once);
//   clipped:   w + t (z - w), t where a weight first crosses zero (that one becomes exactly 0);
//              f decreases along this segment because it stays inside the orthant where f is that
//              quadratic: a guaranteed descent step.
void newton_candidates(const ActiveFactor& F, int n, const double* r, double lambda, const double* w, std::vector<double>& projected,
                       std::vector<double>& clipped) {
  const std::vector<int>& act = F.active();
  const int m = (int)act.size();
  std::vector<double> z(m);
  for (int a = 0; a < m; ++a) z[a] = r[act[a]] - lambda * (w[act[a]] > 0 ? 1.0 : -1.0);
  F.solve(z);
  projected.assign(n, 0.0);
  clipped.assign(w, w + n);
  double t = 1.0;
  int first = -1;
  for (int a = 0; a < m; ++a) {
    const double wa = w[act[a]];
    const bool kept = (wa > 0) == (z[a] > 0) && z[a] != 0;
    if (kept)
      projected[act[a]] = z[a];
    else if (wa / (wa - z[a]) < t)
      t = wa / (wa - z[a]), first = a;
  }
  for (int a = 0; a < m; ++a) clipped[act[a]] += t * (z[a] - w[act[a]]);
  if (first >= 0) clipped[act[first]] = 0.0;
}

double l1_norm(const double* w, int n) {
  double s = 0;
  for (int j = 0; j < n; ++j) s += std::fabs(w[j]);
  return s;
}

}  // namespace

LassoFit lasso_cd(const double* G, int n, const double* r, double syy, double lambda, double* w, double* g,
                  const LassoOptions& opt) {
  if (n < 0 || lambda < 0 || !(syy >= 0)) throw std::logic_error("lasso_cd: bad arguments");
  std::vector<int> all(n), active;
  std::iota(all.begin(), all.end(), 0);
  LassoFit fit;
  const double tol = opt.gap_tol * std::max(syy, 1e-300);
  // Inner (active-set) passes stop once no prediction moves by more than this; the gap decides.
  const double inner_tol = 1e-3 * std::sqrt(tol);
  auto measure = [&] {
    residual_covariance(G, n, r, w, g);  // afresh: no drift from the running updates
    Objective o = objective(n, r, syy, lambda, w, g);
    if (lambda == 0) o.gap = gradient_size(G, n, g);
    return o;
  };
  auto f_of = [&](const Objective& o) { return 0.5 * o.mse + lambda * l1_norm(w, n); };
  // The gap cannot be computed more exactly than the rounding of w.g, where g = r - G w carries an
  // error up to n eps |w|_1 max G_jj: a solution within that floor is as exact as double allows.
  double max_diag = 0;
  for (int j = 0; j < n; ++j) max_diag = std::max(max_diag, G[(size_t)j * n + j]);
  auto tolerance = [&] {
    const double l1 = l1_norm(w, n);
    return std::max(tol, 4 * DBL_EPSILON * (syy + n * l1 * l1 * max_diag));
  };
  Objective obj = measure();
  std::vector<double> saved, projected, clipped, start;
  ActiveFactor factor;
  for (int outer = 0; !(obj.gap <= tolerance()) && fit.sweeps < opt.max_sweeps; ++outer) {
    start.assign(w, w + n);
    // A full sweep (brings in every source that violates its optimality condition), then sweeps
    // over the active set.
    sweep(G, n, lambda, w, g, all.data(), n);
    ++fit.sweeps;
    active.clear();
    for (int j = 0; j < n; ++j)
      if (w[j] != 0) active.push_back(j);
    if ((int)active.size() < n)
      for (int k = 0; k < (outer < 2 ? 50 : 5) && fit.sweeps < opt.max_sweeps; ++k) {
        const double moved = sweep(G, n, lambda, w, g, active.data(), (int)active.size());
        ++fit.sweeps;
        if (moved <= inner_tol) break;
      }
    obj = measure();
    if (obj.gap <= tolerance() || outer < 2) continue;
    // Still not there: Newton steps on the active set while they help (each kept only if f drops).
    // Each step only removes sources, so one factor serves them all (G_AA singular: coordinate
    // descent carries on alone).
    const bool factored = factor.factor(G, n, w);
    for (int k = 0; factored && k < 20 && !(obj.gap <= tolerance()); ++k) {
      if (k > 0) factor.keep_nonzero(w);
      if (factor.active().empty()) break;
      newton_candidates(factor, n, r, lambda, w, projected, clipped);
      ++fit.newton_steps;
      saved.assign(w, w + n);
      const double before = f_of(obj);
      std::copy(projected.begin(), projected.end(), w);
      Objective o = measure();
      if (!(f_of(o) <= before)) {
        std::copy(clipped.begin(), clipped.end(), w);
        o = measure();
        if (!(f_of(o) <= before)) {
          std::copy(saved.begin(), saved.end(), w);
          obj = measure();
          break;
        }
      }
      obj = o;
      // Same active set as before: the only way forward is a sweep adding violators.
      bool same = true;
      for (int j = 0; j < n && same; ++j) same = (w[j] != 0) == (saved[j] != 0);
      if (same) break;
    }
    if (std::equal(start.begin(), start.end(), w)) break;  // nothing moves any more: stalled
  }
  fit.mse = obj.mse;
  fit.gap = obj.gap;
  fit.converged = obj.gap <= tolerance();
  for (int j = 0; j < n; ++j) fit.nonzero += w[j] != 0;
  return fit;
}

std::vector<double> paper_penalties() { return {0, 1e-5, 1e-4, 1e-3, std::pow(10.0, -2.6), 1e-2, 1e-1}; }

double SparsePrediction::mean_mse(int p) const {
  const auto& v = mse.at(p);
  return v.empty() ? NAN : std::accumulate(v.begin(), v.end(), 0.0) / v.size();
}
double SparsePrediction::mean_loss(int p) const { return 0.5 * mean_mse(p); }
double SparsePrediction::mean_nonzero(int p) const {
  const auto& v = nonzero.at(p);
  return v.empty() ? NAN : (double)std::accumulate(v.begin(), v.end(), 0LL) / v.size();
}
double SparsePrediction::positive_fraction(int p) const {
  const long long nz = std::accumulate(nonzero.at(p).begin(), nonzero.at(p).end(), 0LL);
  const long long pos = std::accumulate(positive.at(p).begin(), positive.at(p).end(), 0LL);
  return nz ? (double)pos / nz : NAN;
}

SparsePrediction sparse_prediction(const std::vector<double>& corr_sources, const std::vector<double>& cross, int S, int T,
                                   const SparsePredictionOptions& opt) {
  if (S < 0 || T < 0 || corr_sources.size() != (size_t)S * S || cross.size() != (size_t)S * T)
    throw std::logic_error("sparse_prediction: matrix sizes do not match the unit counts");
  for (double l : opt.penalties)
    if (!(l >= 0) || !std::isfinite(l)) throw std::logic_error("sparse_prediction: penalties must be finite and >= 0");
  if (!(opt.fit_fraction > 0 && opt.fit_fraction <= 1) || opt.path_points < 1 ||
      !(opt.path_min_ratio > 0 && opt.path_min_ratio < 1))
    throw std::logic_error("sparse_prediction: bad fit_fraction / path options");

  SparsePrediction sp;
  sp.sources = S, sp.targets = T;
  sp.penalties = opt.penalties;
  sp.fit_fraction = opt.fit_fraction;
  const int P = (int)opt.penalties.size();
  sp.mse.assign(P, std::vector<double>(T, 0.0));
  sp.nonzero.assign(P, std::vector<int>(T, 0));
  sp.positive.assign(P, std::vector<int>(T, 0));
  sp.gap.assign(P, std::vector<double>(T, 0.0));
  if (opt.keep_weights) sp.weights.assign(P, std::vector<float>((size_t)T * S, 0.0f));
  sp.unconverged.assign(P, 0);
  sp.r2_unpenalised.assign(T, 0.0);
  sp.units_for_fraction.assign(T, 0);
  sp.penalty_for_fraction.assign(T, 0.0);
  if (T == 0) return sp;

  // Least squares for every target at once: W0 = pinv(G) R, through G = V diag(e) V^T.
  std::vector<double> W0((size_t)S * T, 0.0);
  if (S > 0) {
    const SymEig eig = sym_eig(corr_sources, S, true);
    const double cut = 1e-12 * std::max(eig.values.back(), 0.0);
    // V^T R: row k = eigenvector k (row k of eig.vectors) times R, then scaled by 1/e_k.
    std::vector<double> VtR = matmul(eig.vectors, cross, S, S, T);
    for (int k = 0; k < S; ++k) {
      const double inv = eig.values[k] > cut ? 1.0 / eig.values[k] : 0.0;
      for (int t = 0; t < T; ++t) VtR[(size_t)k * T + t] *= inv;
    }
    W0 = matmul_tn(eig.vectors, VtR, S, S, T);  // V (diag(1/e) V^T R)
  }

  // Penalties from the smallest up, each warm-started from the one before and the first from least
  // squares: going up, weights mostly leave the active set, which the Newton steps do many at a
  // time (going down, coordinate sweeps must bring them in one by one: ~2x slower on fc layers).
  std::vector<int> order(P);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return opt.penalties[x] < opt.penalties[y]; });
  std::vector<std::vector<int>> unconverged_by_target(P, std::vector<int>(T, 0));

#pragma omp parallel for schedule(dynamic, 1)
  for (int t = 0; t < T; ++t) {
    std::vector<double> r(S), w(S, 0.0), g(S), w0(S);
    for (int i = 0; i < S; ++i) r[i] = cross[(size_t)i * T + t], w0[i] = W0[(size_t)i * T + t];
    double lambda_max = 0;
    for (int i = 0; i < S; ++i) lambda_max = std::max(lambda_max, std::fabs(r[i]));
    // R^2 of least squares: 1 - mse, mse = 1 - r.w0 (normal equations G w0 = r on G's range).
    double rw0 = 0;
    for (int i = 0; i < S; ++i) rw0 += r[i] * w0[i];
    const double r2_0 = std::min(1.0, std::max(0.0, rw0));
    sp.r2_unpenalised[t] = r2_0;

    auto record = [&](int p, const std::vector<double>& wt, double mse, double gap) {
      sp.mse[p][t] = mse;
      sp.gap[p][t] = gap;
      int nz = 0, pos = 0;
      for (int i = 0; i < S; ++i) nz += wt[i] != 0, pos += wt[i] > 0;
      sp.nonzero[p][t] = nz, sp.positive[p][t] = pos;
      if (opt.keep_weights)
        for (int i = 0; i < S; ++i) sp.weights[p][(size_t)t * S + i] = (float)wt[i];
    };
    w = w0;
    for (int p : order) {
      const double lambda = opt.penalties[p];
      if (lambda == 0) {
        record(p, w0, 1.0 - rw0, 0.0);
        continue;
      }
      if (lambda >= lambda_max) std::fill(w.begin(), w.end(), 0.0);  // w = 0 satisfies the KKT conditions
      const LassoFit f = lasso_cd(corr_sources.data(), S, r.data(), 1.0, lambda, w.data(), g.data(), opt.lasso);
      if (!f.converged) unconverged_by_target[p][t] = 1;
      record(p, w, f.mse, f.gap);
    }

    // The fewest sources that reach fit_fraction of the least-squares R^2, along a fine path.
    if (r2_0 <= 1e-12) {
      sp.units_for_fraction[t] = 0, sp.penalty_for_fraction[t] = lambda_max;
    } else {
      std::fill(w.begin(), w.end(), 0.0);
      bool reached = false;
      for (int k = 1; k <= opt.path_points && !reached; ++k) {
        const double lambda = lambda_max * std::pow(opt.path_min_ratio, (double)k / opt.path_points);
        const LassoFit f = lasso_cd(corr_sources.data(), S, r.data(), 1.0, lambda, w.data(), g.data(), opt.lasso);
        if (1.0 - f.mse >= opt.fit_fraction * r2_0) {
          sp.units_for_fraction[t] = f.nonzero, sp.penalty_for_fraction[t] = lambda;
          reached = true;
        }
      }
      if (!reached) {
        int nz = 0;
        for (int i = 0; i < S; ++i) nz += w0[i] != 0;
        sp.units_for_fraction[t] = nz, sp.penalty_for_fraction[t] = 0;
      }
    }
  }
  for (int p = 0; p < P; ++p)
    sp.unconverged[p] = std::accumulate(unconverged_by_target[p].begin(), unconverged_by_target[p].end(), 0);
  return sp;
}

}  // namespace cvg
