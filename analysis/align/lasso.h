// Few-to-one: sparse linear prediction of one net's units from the other net's units (the paper's
// method 4), solved exactly from second moments. For centred sources x (n of them) and a centred
// target y, with G = Cov(x) [n x n], r = Cov(x, y) [n], s_yy = Var(y), the Lasso
//     f(w) = (1/2) E[(y - w.x)^2] + lambda |w|_1 = (1/2)(s_yy - 2 w.r + w^T G w) + lambda |w|_1
// needs nothing but (G, r, s_yy). It is minimised by cyclic coordinate descent with covariance
// updates (Friedman, Hastie, Tibshirani 2010: keep g = r - G w), active-set sweeps between full
// sweeps, and, when that is slow (ill-conditioned G), exact Newton steps on the active set (the
// solve of G_AA w_A = r_A - lambda sign(w_A), clipped where a sign would flip); stopped by the
// duality gap, a certificate of how far f is from its minimum.
#pragma once
#include <cmath>
#include <vector>

namespace cvg {

struct LassoOptions {
  double gap_tol = 1e-9;   // stop when the duality gap <= gap_tol * s_yy (or <= its rounding
                           // floor, 4 eps (s_yy + n |w|_1^2 max G_jj), when that is larger)
  int max_sweeps = 20000;  // full + active-set sweeps; beyond it the fit is reported unconverged
};

struct LassoFit {
  double mse = 0;  // E[(y - w.x)^2] at the returned w
  double gap = 0;  // duality gap f(w) - (dual bound) >= f(w) - min f; for lambda = 0 (no
                   // useful dual bound) max_j g_j^2 / G_jj instead, g = r - G w
  int sweeps = 0;
  int newton_steps = 0;  // exact solves on the active set (see align_lasso.cpp)
  bool converged = false;
  int nonzero = 0;
};

// Minimises f from the warm start `w` [n] (updated in place). `g` [n] receives r - G w. G must be
// symmetric positive semi-definite (a covariance); a unit with G_jj <= 0 keeps w_j = 0.
LassoFit lasso_cd(const double* G, int n, const double* r, double syy, double lambda, double* w, double* g,
                  const LassoOptions& opt = {});

// The penalties of the paper's table (0, 1e-5 .. 1e-1) plus 10^-2.6, where the paper counts the
// inputs a conv1 unit uses.
std::vector<double> paper_penalties();

struct SparsePredictionOptions {
  std::vector<double> penalties = paper_penalties();  // any order; 0 = exact least squares
  // Per target: the sources of the first fit on its Lasso path to explain this much of the unpenalised fit.
  double fit_fraction = 0.9;
  int path_points = 60;       // the per-target path for that count: lambda_max * ratio^(k/path_points)
  double path_min_ratio = 1e-4;
  bool keep_weights = true;
  LassoOptions lasso;
};

// Standardised prediction of every target from all sources: G = corr(sources) [S x S] and
// r_t = corr(sources, target t), i.e. column t of `cross` [S x T] (row-major), s_yy = 1. So
//   mse = E[(y - w.x)^2] with y in standard units = 1 - R^2 (1 = predicting the mean, 0 = perfect),
//   loss = f's data term = mse / 2 (0.5 = predicting zero: the paper's normalisation, see docs/PAPER.md).
// lambda = 0 is ordinary least squares solved exactly (pseudo-inverse of G through its
// eigen-decomposition, eigenvalues <= 1e-12 of the largest treated as 0). Positive penalties are
// solved from the largest down, each warm-started from the previous.
struct SparsePrediction {
  int sources = 0, targets = 0;
  std::vector<double> penalties;            // as given
  std::vector<std::vector<double>> mse;     // [penalty][target]
  std::vector<std::vector<int>> nonzero;    // [penalty][target] weights != 0
  std::vector<std::vector<int>> positive;   // [penalty][target] weights > 0
  std::vector<std::vector<double>> gap;     // [penalty][target] duality gap (0 for exact solves)
  std::vector<std::vector<float>> weights;  // [penalty][target * S + source] when keep_weights
  std::vector<int> unconverged;             // [penalty] targets that hit max_sweeps
  // Per target: R^2 of the unpenalised fit; the number of non-zero weights of the first fit on its
  // descending path whose R^2 reaches fit_fraction of it (the path's resolution: path_points log-
  // spaced penalties per target from its lambda_max = max_j |r_j| down to path_min_ratio of it; the
  // least-squares fit ends the path); and the penalty where that happened (0 = least squares).
  std::vector<double> r2_unpenalised;
  std::vector<int> units_for_fraction;
  std::vector<double> penalty_for_fraction;
  double fit_fraction = 0;

  double mean_loss(int p) const;  // mean over targets of mse / 2
  double mean_mse(int p) const;
  double mean_nonzero(int p) const;
  double positive_fraction(int p) const;  // of all non-zero weights
};

SparsePrediction sparse_prediction(const std::vector<double>& corr_sources, const std::vector<double>& cross, int S, int T,
                                   const SparsePredictionOptions& opt = {});

}  // namespace cvg
