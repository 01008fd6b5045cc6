// Alignment analyses (bin/align): the Lasso against least squares, a closed form and its optimality
// conditions; spectral groups against planted blocks; CKA/CCA/Procrustes invariances; and every
// analysis computed from accumulated moments against the same quantity computed from the raw
// activations by another route (N x N Gram matrices, QR of the data, data-space coordinate descent).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "analysis/align/active_factor.h"
#include "analysis/align/lasso.h"
#include "analysis/align/linalg.h"
#include "analysis/align/pair.h"
#include "analysis/align/scores.h"
#include "analysis/align/spectral.h"
#include "analysis/match/match.h"
#include "analysis/stats/moments.h"
#include "nn/device.h"
#include "tests/check.h"

using namespace cvg;

namespace {

using Mat = std::vector<double>;  // row-major

Mat gaussian(int rows, int cols, uint64_t seed) {
  const std::vector<float> v = test::randn((size_t)rows * cols, seed);
  return Mat(v.begin(), v.end());
}

Mat mul(const Mat& A, const Mat& B, int m, int k, int n) {  // naive A [m x k] B [k x n]
  Mat C((size_t)m * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int l = 0; l < k; ++l)
      for (int j = 0; j < n; ++j) C[(size_t)i * n + j] += A[(size_t)i * k + l] * B[(size_t)l * n + j];
  return C;
}

Mat transpose(const Mat& A, int m, int n) {
  Mat T((size_t)n * m);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) T[(size_t)j * m + i] = A[(size_t)i * n + j];
  return T;
}

Mat centred(Mat X, int N, int c) {
  for (int j = 0; j < c; ++j) {
    double m = 0;
    for (int s = 0; s < N; ++s) m += X[(size_t)s * c + j];
    m /= N;
    for (int s = 0; s < N; ++s) X[(size_t)s * c + j] -= m;
  }
  return X;
}

// Cov(X, Y) = Xc^T Yc / N, naive.
Mat cov(const Mat& X, const Mat& Y, int N, int a, int b) {
  const Mat Xc = centred(X, N, a), Yc = centred(Y, N, b);
  Mat C((size_t)a * b, 0.0);
  for (int s = 0; s < N; ++s)
    for (int i = 0; i < a; ++i)
      for (int j = 0; j < b; ++j) C[(size_t)i * b + j] += Xc[(size_t)s * a + i] * Yc[(size_t)s * b + j];
  for (double& v : C) v /= N;
  return C;
}

// Orthonormal basis of the column space of A [m x n] by modified Gram-Schmidt done twice; columns
// whose remainder is below 1e-9 of their norm are dropped. Returns Q [m x rank].
Mat orthonormal_columns(const Mat& A, int m, int n, int* rank) {
  std::vector<std::vector<double>> q;
  for (int j = 0; j < n; ++j) {
    std::vector<double> v(m);
    double norm0 = 0;
    for (int i = 0; i < m; ++i) v[i] = A[(size_t)i * n + j], norm0 += v[i] * v[i];
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& u : q) {
        double d = 0;
        for (int i = 0; i < m; ++i) d += u[i] * v[i];
        for (int i = 0; i < m; ++i) v[i] -= d * u[i];
      }
    double norm = 0;
    for (double x : v) norm += x * x;
    if (norm <= 1e-18 * norm0 || norm0 == 0) continue;
    for (double& x : v) x /= std::sqrt(norm);
    q.push_back(v);
  }
  *rank = (int)q.size();
  Mat Q((size_t)m * q.size());
  for (size_t k = 0; k < q.size(); ++k)
    for (int i = 0; i < m; ++i) Q[(size_t)i * q.size() + k] = q[k][i];
  return Q;
}

Mat random_orthogonal(int n, uint64_t seed) {
  int rank = 0;
  Mat Q = orthonormal_columns(gaussian(n, n, seed), n, n, &rank);
  REQUIRE(rank == n);
  return Q;
}

// Solves A x = b (A [n x n]) by Gaussian elimination with partial pivoting.
std::vector<double> solve(Mat A, std::vector<double> b, int n) {
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int i = c + 1; i < n; ++i)
      if (std::fabs(A[(size_t)i * n + c]) > std::fabs(A[(size_t)p * n + c])) p = i;
    for (int j = 0; j < n; ++j) std::swap(A[(size_t)c * n + j], A[(size_t)p * n + j]);
    std::swap(b[c], b[p]);
    for (int i = c + 1; i < n; ++i) {
      const double f = A[(size_t)i * n + c] / A[(size_t)c * n + c];
      for (int j = c; j < n; ++j) A[(size_t)i * n + j] -= f * A[(size_t)c * n + j];
      b[i] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (int i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int j = i + 1; j < n; ++j) s -= A[(size_t)i * n + j] * x[j];
    x[i] = s / A[(size_t)i * n + i];
  }
  return x;
}

std::vector<double> column(const Mat& A, int rows, int cols, int j) {
  std::vector<double> v(rows);
  for (int i = 0; i < rows; ++i) v[i] = A[(size_t)i * cols + j];
  return v;
}

Mat standardise_cov(const Mat& C, const std::vector<double>& sr, const std::vector<double>& sc) {
  Mat R(C.size());
  for (size_t i = 0; i < sr.size(); ++i)
    for (size_t j = 0; j < sc.size(); ++j) R[i * sc.size() + j] = C[i * sc.size() + j] / (sr[i] * sc[j]);
  return R;
}

std::vector<double> diag_sqrt(const Mat& C, int n) {
  std::vector<double> s(n);
  for (int i = 0; i < n; ++i) s[i] = std::sqrt(C[(size_t)i * n + i]);
  return s;
}

// Correlated ReLU activations: relu(Z M + noise - offset), Z [N x d] shared latents.
Mat relu_units(const Mat& Z, int N, int d, int c, uint64_t seed, double noise) {
  const Mat M = gaussian(d, c, seed);
  const Mat E = gaussian(N, c, seed + 1);
  Mat X = mul(Z, M, N, d, c);
  for (size_t e = 0; e < X.size(); ++e) X[e] = std::max(0.0, X[e] + noise * E[e] - 0.3);
  return X;
}

// The KKT conditions of the Lasso at w: g = r - G w, |g_j| <= lambda where w_j = 0, g_j =
// lambda sign(w_j) elsewhere. Returns the worst violation.
double kkt_violation(const Mat& G, const std::vector<double>& r, const std::vector<double>& w, double lambda) {
  const int n = (int)r.size();
  double worst = 0;
  for (int j = 0; j < n; ++j) {
    double g = r[j];
    for (int k = 0; k < n; ++k) g -= G[(size_t)j * n + k] * w[k];
    const double v = w[j] == 0 ? std::max(0.0, std::fabs(g) - lambda) : std::fabs(g - lambda * (w[j] > 0 ? 1 : -1));
    worst = std::max(worst, v);
  }
  return worst;
}

// Same partition up to the names of the groups.
bool same_partition(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a.size(); ++j)
      if ((a[i] == a[j]) != (b[i] == b[j])) return false;
  return true;
}

// Moments of two nets from sample-major activations X [N x a], Y [N x b], streamed through the
// real accumulator on the CPU as NCHW float32 batches of `n` images x `hw` positions.
Moments accumulate(const Mat& X, const Mat& Y, int N, int a, int b, int n, int hw) {
  REQUIRE(N % (n * hw) == 0);
  MomentAccumulator acc(Device::cpu(), {a, b});
  std::vector<float> A((size_t)n * a * hw), B((size_t)n * b * hw);
  for (int s0 = 0; s0 < N; s0 += n * hw) {
    for (int i = 0; i < n; ++i)
      for (int p = 0; p < hw; ++p) {
        const size_t s = s0 + (size_t)i * hw + p;
        for (int u = 0; u < a; ++u) A[((size_t)i * a + u) * hw + p] = (float)X[s * a + u];
        for (int u = 0; u < b; ++u) B[((size_t)i * b + u) * hw + p] = (float)Y[s * b + u];
      }
    acc.add_batch({A.data(), B.data()}, n, hw);
  }
  return acc.moments();
}

// Rounds to float32 and back: the values the accumulator actually saw.
Mat as_float(Mat X) {
  for (double& v : X) v = (double)(float)v;
  return X;
}

}  // namespace

// ---- linear algebra -------------------------------------------------------------------------------

TEST_CASE("align: LAPACK eigen-decomposition and SVD reconstruct their matrices") {
  const int n = 9, m = 6;
  const Mat B = gaussian(n, n, 11);
  Mat A((size_t)n * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) A[(size_t)i * n + j] = B[(size_t)i * n + j] + B[(size_t)j * n + i];
  const SymEig e = sym_eig(A, n, true, {EigOptions::Cpu});
  CHECK(std::is_sorted(e.values.begin(), e.values.end()));
  // A = sum_k e_k v_k v_k^T and V V^T = I: in double, errors ~ n * 1e-16 * |A|.
  Mat rec((size_t)n * n, 0.0), gram((size_t)n * n, 0.0);
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        rec[(size_t)i * n + j] += e.values[k] * e.vectors[(size_t)k * n + i] * e.vectors[(size_t)k * n + j];
        gram[(size_t)i * n + j] += e.vectors[(size_t)i * n + k] * e.vectors[(size_t)j * n + k];
      }
  CHECK_ALL_CLOSE(rec, A, 1e-12, 0);
  Mat eye((size_t)n * n, 0.0);
  for (int i = 0; i < n; ++i) eye[(size_t)i * n + i] = 1;
  CHECK_ALL_CLOSE(gram, eye, 1e-13, 0);

  for (auto [rows, cols] : {std::pair{n, m}, std::pair{m, n}}) {
    const Mat C = gaussian(rows, cols, 12 + rows);
    const Svd d = svd(C, rows, cols);
    Mat back((size_t)rows * cols, 0.0);
    for (int k = 0; k < d.k; ++k)
      for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j)
          back[(size_t)i * cols + j] += d.s[k] * d.u[(size_t)k * rows + i] * d.v[(size_t)k * cols + j];
    CHECK_ALL_CLOSE(back, C, 1e-12, 0);
    CHECK_ALL_CLOSE(singular_values(C, rows, cols), d.s, 1e-12, 0);
    CHECK(std::is_sorted(d.s.rbegin(), d.s.rend()));
  }
}

TEST_CASE("align: top-k eigenvectors (sym_eig_top) equal the full decomposition's on random SPD matrices") {
  for (int n : {1, 5, 60, 130}) {
    INFO("n = " << n);
    const Mat B = gaussian(n + 4, n, 70 + n);
    const Mat A = mul(transpose(B, n + 4, n), B, n, n + 4, n);  // SPD, a spread-out spectrum
    const SymEig full = sym_eig(A, n, true, {EigOptions::Cpu});
    const double top = full.values.back();
    for (int k : {0, 1, n / 3, n}) {
      INFO("k = " << k);
      std::vector<double> seen;
      const SymEig t = sym_eig_top(A, n, [&](const std::vector<double>& v) { return seen = v, k; });
      CHECK(seen == t.values);  // the choice sees every eigenvalue
      REQUIRE(t.first_vector == n - k);
      REQUIRE(t.vectors.size() == (size_t)k * n);
      // Eigenvalues by another algorithm (dsterf vs divide and conquer): backward stable, ~n eps |A|.
      CHECK_ALL_CLOSE(t.values, full.values, 0, 1e-13 * n * top);
      for (int r = 0; r < k; ++r) {
        const int idx = n - k + r;
        const double* v = &t.vectors[(size_t)r * n];
        const double* f = &full.vectors[(size_t)idx * n];
        double av2 = 0, dot = 0, norm = 0;
        for (int i = 0; i < n; ++i) {
          double avi = -t.values[idx] * v[i];
          for (int j = 0; j < n; ++j) avi += A[(size_t)i * n + j] * v[j];
          av2 += avi * avi, dot += v[i] * f[i], norm += v[i] * v[i];
        }
        CHECK(std::sqrt(av2) <= 1e-12 * n * top);  // A v = lambda v
        CHECK(norm == doctest::Approx(1).epsilon(1e-13));
        // Same vector up to sign where the eigenvalue is well separated (gap / |A| > 1e-3).
        const double gap = std::min(idx > 0 ? full.values[idx] - full.values[idx - 1] : top,
                                    idx + 1 < n ? full.values[idx + 1] - full.values[idx] : top);
        if (gap > 1e-3 * top) CHECK(std::fabs(dot) == doctest::Approx(1).epsilon(1e-9));
        for (int q = 0; q < r; ++q) {  // orthogonal to the others
          double c = 0;
          for (int i = 0; i < n; ++i) c += v[i] * t.vectors[(size_t)q * n + i];
          CHECK(std::fabs(c) <= 1e-12 * n);
        }
      }
    }
  }
  CHECK_THROWS_AS(sym_eig_top(Mat(4, 1.0), 2, [](const std::vector<double>&) { return 3; }), std::logic_error);
}

// ---- Lasso ----------------------------------------------------------------------------------------

TEST_CASE("align: Lasso at zero penalty is ordinary least squares") {
  const int N = 600, S = 10;
  const Mat X = mul(gaussian(N, S, 21), gaussian(S, S, 22), N, S, S);  // correlated sources
  const Mat beta = gaussian(S, 1, 23), noise = gaussian(N, 1, 24);
  Mat y = mul(X, beta, N, S, 1);
  for (int s = 0; s < N; ++s) y[s] += 0.7 * noise[s] + 3.0;
  const Mat G = cov(X, X, N, S, S), rm = cov(X, y, N, S, 1);
  const double syy = cov(y, y, N, 1, 1)[0];
  const std::vector<double> ols = solve(G, rm, S);

  // Coordinate descent at lambda = 0 converges to the normal equations' solution. It stops when
  // max_j g_j^2 / G_jj <= 1e-20 syy (g = r - G w, syy ~ 90, G_jj ~ 10): |g| <~ 1e-8, and
  // |w - w*| <= |g| / mu with G's smallest eigenvalue mu ~ 6e-3 here: ~2e-6 at worst.
  std::vector<double> w(S, 0.0), g(S);
  const LassoFit f = lasso_cd(G.data(), S, rm.data(), syy, 0.0, w.data(), g.data(), {1e-20, 200000});
  CHECK(f.converged);
  CHECK_ALL_CLOSE(w, ols, 1e-5, 1e-6);

  // sparse_prediction solves lambda = 0 exactly (pseudo-inverse), on standardised units: its
  // weights are OLS's scaled by std_x / std_y (stored as float32: rtol 1e-6), its mse = 1 - R^2
  // with the residual computed on the data.
  const std::vector<double> sx = diag_sqrt(G, S);
  const Mat R = standardise_cov(G, sx, sx), r = standardise_cov(rm, sx, {std::sqrt(syy)});
  SparsePredictionOptions opt;
  opt.penalties = {0};
  const SparsePrediction sp = sparse_prediction(R, r, S, 1, opt);
  std::vector<double> want(S);
  for (int j = 0; j < S; ++j) want[j] = ols[j] * sx[j] / std::sqrt(syy);
  CHECK_ALL_CLOSE(sp.weights[0], want, 1e-7, 1e-6);
  const Mat Xc = centred(X, N, S), yc = centred(y, N, 1);
  double sse = 0;
  for (int s = 0; s < N; ++s) {
    double p = 0;
    for (int j = 0; j < S; ++j) p += Xc[(size_t)s * S + j] * ols[j];
    sse += (yc[s] - p) * (yc[s] - p);
  }
  CHECK(sp.mse[0][0] == doctest::Approx(sse / N / syy).epsilon(1e-10));
  CHECK(sp.r2_unpenalised[0] == doctest::Approx(1 - sse / N / syy).epsilon(1e-10));
  CHECK(sp.mean_loss(0) == doctest::Approx(0.5 * sp.mse[0][0]));
}

TEST_CASE("align: Lasso recovers an exact sparse combination with the right weights") {
  const int N = 2000, S = 20;
  const Mat X = gaussian(N, S, 31);
  const int support[3] = {3, 8, 15};
  const double truth[3] = {0.8, -0.5, 0.5};
  Mat y(N, 0.0);
  for (int s = 0; s < N; ++s)
    for (int k = 0; k < 3; ++k) y[s] += truth[k] * X[(size_t)s * S + support[k]];
  const Mat G = cov(X, X, N, S, S), r = cov(X, y, N, S, 1);
  const double syy = cov(y, y, N, 1, 1)[0];

  std::vector<double> w(S, 0.0), g(S);
  for (double lambda : {1e-2, 1e-3, 1e-4, 1e-6}) {
    CAPTURE(lambda);
    const LassoFit f = lasso_cd(G.data(), S, r.data(), syy, lambda, w.data(), g.data(), {1e-16, 100000});
    REQUIRE(f.converged);
    // Exactly the planted sources are non-zero...
    for (int j = 0; j < S; ++j) CHECK((w[j] != 0) == (j == 3 || j == 8 || j == 15));
    // ...with the Lasso's closed form on its support: w_S = truth - lambda G_SS^-1 sign(truth)
    // (the stationarity condition G_SS w_S = r_S - lambda sign, and r_S = G_SS truth exactly).
    Mat Gss(9);
    std::vector<double> sgn(3);
    for (int a = 0; a < 3; ++a) {
      sgn[a] = truth[a] > 0 ? 1 : -1;
      for (int b = 0; b < 3; ++b) Gss[a * 3 + b] = G[(size_t)support[a] * S + support[b]];
    }
    const std::vector<double> shrink = solve(Gss, sgn, 3);
    // The fit stops at a gap <= its rounding floor (~5e-14 here), so |w - w*| <= sqrt(2 gap / mu)
    // <~ 3e-7 at worst (mu ~ 0.9); the sweeps converge linearly and fast (G ~ I), ending far below.
    for (int a = 0; a < 3; ++a) CHECK(w[support[a]] == doctest::Approx(truth[a] - lambda * shrink[a]).epsilon(1e-7));
    CHECK(f.nonzero == 3);
  }

  // Standardised: the fewest sources reaching 90% of the unpenalised fit is 3, since no two of
  // them explain more than 0.89 / 1.14 = 78% of the target.
  const std::vector<double> sx = diag_sqrt(G, S);
  const SparsePrediction sp = sparse_prediction(standardise_cov(G, sx, sx), standardise_cov(r, sx, {std::sqrt(syy)}), S, 1);
  CHECK(sp.r2_unpenalised[0] == doctest::Approx(1.0).epsilon(1e-10));
  CHECK(sp.units_for_fraction[0] == 3);
}

TEST_CASE("align: Lasso meets its optimality (KKT) conditions at every penalty of a path") {
  const int N = 1500, S = 16, T = 5, d = 8;
  const Mat Z = gaussian(N, d, 41);
  const Mat X = relu_units(Z, N, d, S, 42, 0.5), Y = relu_units(Z, N, d, T, 43, 0.8);
  const Mat G = cov(X, X, N, S, S), C = cov(X, Y, N, S, T), Cyy = cov(Y, Y, N, T, T);
  const std::vector<double> sx = diag_sqrt(G, S), sy = diag_sqrt(Cyy, T);
  const Mat R = standardise_cov(G, sx, sx), Rxy = standardise_cov(C, sx, sy);

  std::vector<double> penalties = paper_penalties();
  penalties.push_back(0.3);
  penalties.push_back(2.0);  // above every |r_j|: the solution is 0
  std::vector<double> sorted = penalties;
  std::sort(sorted.rbegin(), sorted.rend());
  SparsePredictionOptions opt;
  opt.penalties = penalties;
  opt.lasso.gap_tol = 1e-14;
  const SparsePrediction sp = sparse_prediction(R, Rxy, S, T, opt);

  for (int t = 0; t < T; ++t) {
    const std::vector<double> r = column(Rxy, S, T, t);
    std::vector<double> w(S, 0.0), g(S);
    double last_mse = -1;
    for (double lambda : sorted) {
      CAPTURE(t);
      CAPTURE(lambda);
      if (lambda == 0) continue;  // least squares: checked against the normal equations above
      const LassoFit f = lasso_cd(R.data(), S, r.data(), 1.0, lambda, w.data(), g.data(), {1e-14, 200000});
      REQUIRE(f.converged);
      // A gap of 1e-14 puts the gradient within ~|G| sqrt(2 gap / mu) ~ 1e-6 of the optimum's
      // (mu = G's smallest eigenvalue, ~0.1 here); 1e-5 leaves a margin.
      CHECK(kkt_violation(R, r, w, lambda) <= 1e-5);
      // f's mse against 1 - 2 w.r + w^T R w computed here.
      double quad = 0, wr = 0;
      for (int i = 0; i < S; ++i) {
        wr += w[i] * r[i];
        for (int j = 0; j < S; ++j) quad += w[i] * R[(size_t)i * S + j] * w[j];
      }
      CHECK(f.mse == doctest::Approx(1 - 2 * wr + quad).epsilon(1e-12));
      if (lambda == 2.0) CHECK(f.nonzero == 0);
      // A larger penalty never fits better (beyond the gap's slack).
      if (last_mse >= 0) CHECK(f.mse <= last_mse + 1e-12);
      last_mse = f.mse;
      // sparse_prediction's path gives the same fit (its penalties in another order).
      const int p = (int)(std::find(penalties.begin(), penalties.end(), lambda) - penalties.begin());
      std::vector<double> stored(S);
      for (int i = 0; i < S; ++i) stored[i] = sp.weights[p][(size_t)t * S + i];
      CHECK_ALL_CLOSE(stored, w, 1e-6, 1e-5);  // float32 storage + two gap-1e-14 solutions
      CHECK(sp.mse[p][t] == doctest::Approx(f.mse).epsilon(1e-8));
    }
    // Least squares is the smallest mse of all.
    const int p0 = (int)(std::find(penalties.begin(), penalties.end(), 0.0) - penalties.begin());
    CHECK(sp.mse[p0][t] <= last_mse + 1e-12);
  }
  for (int p = 0; p < (int)penalties.size(); ++p) CHECK(sp.unconverged[p] == 0);
}

TEST_CASE("align: Lasso is exact on ill-conditioned sources (Newton steps on the active set)") {
  // Pairs of near-duplicate sources (x and x + 1e-3 noise): G's condition number ~1e6, where
  // plain coordinate descent needs ~1e6 sweeps. The fit must still converge to a gap of 1e-13 (or
  // its rounding floor: at 1e-7 the weights reach ~10 and the floor ~1e-12) and meet the KKT
  // conditions, for small and large penalties.
  const int N = 3000, base = 6, S = 2 * base;
  const Mat X0 = gaussian(N, base, 81), E = gaussian(N, base, 82), noise = gaussian(N, 1, 83);
  Mat X((size_t)N * S), y(N);
  for (int s = 0; s < N; ++s) {
    for (int j = 0; j < base; ++j) {
      X[(size_t)s * S + 2 * j] = X0[(size_t)s * base + j];
      X[(size_t)s * S + 2 * j + 1] = X0[(size_t)s * base + j] + 1e-3 * E[(size_t)s * base + j];
    }
    y[s] = X0[(size_t)s * base] - 0.5 * X0[(size_t)s * base + 3] + 0.3 * noise[s];
  }
  const Mat Gc = cov(X, X, N, S, S), rc = cov(X, y, N, S, 1);
  const std::vector<double> sx = diag_sqrt(Gc, S);
  const Mat G = standardise_cov(Gc, sx, sx), r = standardise_cov(rc, sx, {std::sqrt(cov(y, y, N, 1, 1)[0])});
  std::vector<double> w(S, 0.0), g(S);
  int newton = 0;
  for (double lambda : {1e-1, 1e-3, 1e-5, 1e-7}) {
    CAPTURE(lambda);
    const LassoFit f = lasso_cd(G.data(), S, r.data(), 1.0, lambda, w.data(), g.data(), {1e-13, 20000});
    CHECK(f.converged);
    CHECK(f.sweeps < 2000);
    newton += f.newton_steps;
    // Gradient error <~ |G| sqrt(2 gap / mu): mu ~ 1e-6 makes that loose (~1e-3), but at the
    // exact active-set solution the residual is only rounding: 1e-7.
    CHECK(kkt_violation(G, r, w, lambda) <= 1e-7);
  }
  CHECK(newton > 0);
}

TEST_CASE("align: the Lasso's active-set factor, after sources leave, solves like a fresh one") {
  // Removing sources updates the factor by rank-one steps; it must equal factoring the smaller Gram
  // matrix afresh (to rounding: G's condition number here is ~1e2, so 1e-11 relative is generous).
  const int N = 200, S = 24;
  const Mat X = gaussian(N, S, 91);
  const Mat G = cov(X, X, N, S, S);
  std::vector<double> w(S, 1.0);
  ActiveFactor updated, fresh;
  REQUIRE(updated.factor(G.data(), S, w.data()));
  for (int gone : {0, 7, 8, 23, 15}) {  // first, middle, adjacent, last
    w[gone] = 0;
    updated.keep_nonzero(w.data());
    REQUIRE(fresh.factor(G.data(), S, w.data()));
    REQUIRE(updated.active() == fresh.active());
    std::vector<double> a(fresh.active().size()), b;
    for (size_t k = 0; k < a.size(); ++k) a[k] = std::sin(1.0 + k);
    b = a;
    updated.solve(a), fresh.solve(b);
    for (size_t k = 0; k < a.size(); ++k) CHECK(a[k] == doctest::Approx(b[k]).epsilon(1e-11));
  }
}

TEST_CASE("align: Lasso rejects bad input") {
  CHECK_THROWS_AS(sparse_prediction(Mat(4), Mat(3), 2, 2), std::logic_error);
  SparsePredictionOptions opt;
  opt.penalties = {-1};
  CHECK_THROWS_AS(sparse_prediction(Mat{1}, Mat{0.5}, 1, 1, opt), std::logic_error);
  // No sources (all of a net's units dead): every target is predicted by its mean.
  const SparsePrediction none = sparse_prediction(Mat{}, Mat{}, 0, 2);
  for (size_t p = 0; p < none.penalties.size(); ++p) {
    CHECK(none.mse[p] == std::vector<double>{1.0, 1.0});
    CHECK(none.nonzero[p] == std::vector<int>{0, 0});
  }
  CHECK(none.units_for_fraction == std::vector<int>{0, 0});
}

// ---- spectral groups ------------------------------------------------------------------------------

namespace {

// Planted groups over 24 A units and 20 B units (labels shuffled over the natural order): four
// mixed groups and one of A's units only.
struct Planted {
  static constexpr int na = 24, nb = 20, n = na + nb, k = 5;
  std::vector<int> label;  // [n]
  Planted() {
    const int a_sizes[k] = {6, 5, 4, 5, 4}, b_sizes[k] = {5, 5, 0, 4, 6};
    std::vector<int> la, lb;
    for (int g = 0; g < k; ++g) la.insert(la.end(), a_sizes[g], g), lb.insert(lb.end(), b_sizes[g], g);
    auto shuffle = [](std::vector<int>& v, uint64_t seed) {
      for (int i = (int)v.size() - 1; i > 0; --i) std::swap(v[i], v[rng_bits(seed, 9, i) % (i + 1)]);
    };
    shuffle(la, 1), shuffle(lb, 2);
    label = la;
    label.insert(label.end(), lb.begin(), lb.end());
  }
};

}  // namespace

TEST_CASE("align: spectral clustering recovers planted blocks of a correlation matrix exactly") {
  const Planted pl;
  const int n = Planted::n;
  // Within a group 0.6 +- 0.1, across groups +-0.08, symmetric, unit diagonal.
  Mat J((size_t)n * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j) {
      const double u = 2.0 * rng_uniform(5, i, j) - 1.0;
      const double v = i == j ? 1.0 : (pl.label[i] == pl.label[j] ? 0.6 + 0.1 * u : 0.08 * u);
      J[(size_t)i * n + j] = J[(size_t)j * n + i] = v;
    }
  for (int given : {0, Planted::k}) {
    SpectralOptions opt;
    opt.groups = given;
    const SpectralGroups sg = spectral_groups(J, n, Planted::na, opt);
    CHECK(sg.k == Planted::k);
    CHECK(sg.k_from_eigengap == (given == 0));
    CHECK(same_partition(sg.label, pl.label));
    CHECK(sg.mixed == 4);
    // Group sizes in decreasing order, A and B counts as planted, order = a permutation that lists
    // each group contiguously.
    int total = 0;
    for (size_t g = 0; g < sg.groups.size(); ++g) {
      const UnitGroup& G = sg.groups[g];
      if (g > 0) CHECK(G.nodes.size() <= sg.groups[g - 1].nodes.size());
      const int planted = pl.label[G.nodes[0]];
      int pa = 0, pb = 0;
      for (int i = 0; i < n; ++i)
        if (pl.label[i] == planted) (i < Planted::na ? pa : pb)++;
      CHECK(G.from_a == pa);
      CHECK(G.from_b == pb);
      CHECK(G.mean_corr == doctest::Approx(0.6).epsilon(0.1));
      for (size_t p = 0; p < G.nodes.size(); ++p) CHECK(sg.order[total + p] == G.nodes[p]);
      total += (int)G.nodes.size();
    }
    std::vector<int> sorted = sg.order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int> iota(n);
    std::iota(iota.begin(), iota.end(), 0);
    CHECK(sorted == iota);
  }
  // The permuted matrix has the groups as diagonal blocks.
  const SpectralGroups sg = spectral_groups(J, n, Planted::na);
  const Mat P = permuted(J, n, sg.order);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) CHECK((P[(size_t)i * n + j] > 0.3) == (sg.label[sg.order[i]] == sg.label[sg.order[j]]));
  // Deterministic.
  CHECK(spectral_groups(J, n, Planted::na).label == sg.label);
}

TEST_CASE("align: spectral k-means makes enough restarts to leave a worse fixed point") {
  // Two tiny nets' conv1 (8 + 8 units; an audit's case): Lloyd's iterations from k-means++ seeds
  // reach the lowest inertia, 2.606287 (the best of 500 restarts in numpy), in ~6-9% of restarts,
  // so the 10 restarts once made kept a fixed point at 2.675709.
  int n = 0, m = 0;
  const Mat J = read_matrix_npy("tests/data/spectral_joint_conv1.npy", n, m);
  REQUIRE(n == 16);
  SpectralOptions ten;
  ten.restarts = 10;
  const SpectralGroups g10 = spectral_groups(J, n, 8, ten), g = spectral_groups(J, n, 8);
  CHECK(g.k == 4);
  CHECK(g10.restarts == 10);
  CHECK(g.restarts == 100);
  CHECK(g10.inertia == doctest::Approx(2.675709).epsilon(1e-6));
  CHECK(g.inertia == doctest::Approx(2.606287).epsilon(1e-6));
  // More restarts only add seeds (restart r's seed does not depend on the count): never worse.
  for (int r : {1, 5, 20, 50}) {
    SpectralOptions o;
    o.restarts = r;
    CHECK(spectral_groups(J, n, 8, o).inertia >= g.inertia);
  }
  // The default count: 100 for small problems, down to 10 as n k^2 grows.
  CHECK(kmeans_restarts(16, 4) == 100);
  CHECK(kmeans_restarts(1024, 98) == 100);
  CHECK(kmeans_restarts(1024, 256) == 14);
  CHECK(kmeans_restarts(8192, 2048) == 10);
}

// ---- global scores --------------------------------------------------------------------------------

TEST_CASE("align: CKA, CCA and Procrustes invariances") {
  const int N = 800, a = 12, b = 9;
  const Mat X = mul(gaussian(N, a, 51), gaussian(a, a, 52), N, a, a);
  const Mat Caa = cov(X, X, N, a, a);

  SUBCASE("a rotated, scaled copy: CKA 1, Procrustes 0, all canonical correlations 1") {
    const Mat Q = random_orthogonal(a, 53);
    Mat Y = mul(X, Q, N, a, a);
    for (double& v : Y) v = 2.5 * v + 1.0;
    const GlobalScores s = global_scores(Caa, a, cov(Y, Y, N, a, a), a, cov(X, Y, N, a, a));
    // All in double from the same data: ~1e-13 rounding, amplified by the whitening's condition.
    CHECK(s.cka == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(s.procrustes >= 0);  // a distance: never the -4e-16 that rounding gave before it was clamped
    CHECK(s.procrustes <= 1e-12);
    REQUIRE(s.cca.size() == (size_t)a);
    CHECK_ALL_CLOSE(s.cca, std::vector<double>(a, 1.0), 1e-10, 0);
    CHECK(s.svcca_mean == doctest::Approx(1.0).epsilon(1e-10));
    CHECK(s.pwcca == doctest::Approx(1.0).epsilon(1e-10));
  }
  SUBCASE("an invertible linear transform: canonical correlations all 1, CKA not") {
    const Mat A = gaussian(a, a, 54);
    const Mat Y = mul(X, A, N, a, a);
    const GlobalScores s = global_scores(Caa, a, cov(Y, Y, N, a, a), a, cov(X, Y, N, a, a));
    CHECK(s.cca_rank_a == a);
    CHECK(s.cca_rank_b == a);
    CHECK_ALL_CLOSE(s.cca, std::vector<double>(a, 1.0), 1e-9, 0);
    CHECK(s.cka < 0.99);
  }
  SUBCASE("a wider linear image of X (15 units of rank 12): the rank cut keeps 12 directions, all 1") {
    const int w = 15;
    const Mat Y = mul(X, gaussian(a, w, 55), N, a, w);
    const GlobalScores s = global_scores(Caa, a, cov(Y, Y, N, w, w), w, cov(X, Y, N, a, w));
    CHECK(s.cca_rank_b == a);
    REQUIRE(s.cca.size() == (size_t)a);
    CHECK_ALL_CLOSE(s.cca, std::vector<double>(a, 1.0), 1e-6, 0);
  }
  SUBCASE("unit permutations change nothing") {
    const Mat Z = relu_units(X, N, a, b, 56, 1.0);
    std::vector<int> pa(a), pb(b);
    std::iota(pa.begin(), pa.end(), 0), std::iota(pb.begin(), pb.end(), 0);
    std::reverse(pa.begin(), pa.end());
    std::rotate(pb.begin(), pb.begin() + 4, pb.end());
    Mat Xp(X.size()), Zp(Z.size());
    for (int s = 0; s < N; ++s) {
      for (int i = 0; i < a; ++i) Xp[(size_t)s * a + i] = X[(size_t)s * a + pa[i]];
      for (int j = 0; j < b; ++j) Zp[(size_t)s * b + j] = Z[(size_t)s * b + pb[j]];
    }
    const GlobalScores s0 = global_scores(Caa, a, cov(Z, Z, N, b, b), b, cov(X, Z, N, a, b));
    const GlobalScores s1 = global_scores(cov(Xp, Xp, N, a, a), a, cov(Zp, Zp, N, b, b), b, cov(Xp, Zp, N, a, b));
    CHECK(s1.cka == doctest::Approx(s0.cka).epsilon(1e-12));
    CHECK(s1.procrustes == doctest::Approx(s0.procrustes).epsilon(1e-12));
    CHECK_ALL_CLOSE(s1.cca, s0.cca, 1e-10, 0);
    CHECK_ALL_CLOSE(s1.svcca, s0.svcca, 1e-10, 0);
    CHECK(s1.pwcca == doctest::Approx(s0.pwcca).epsilon(1e-10));
    CHECK(s0.cka > 0.1);
    CHECK(s0.cka < 0.99);
    CHECK(s0.procrustes > 0.01);
    CHECK(s0.procrustes < 2);
  }
  SUBCASE("independent nets: CKA near 0, Procrustes near its maximum") {
    const Mat Y = gaussian(N, b, 57);
    const GlobalScores s = global_scores(Caa, a, cov(Y, Y, N, b, b), b, cov(X, Y, N, a, b));
    CHECK(s.cka < 0.05);  // expected ~ a b / N / (|C_aa| |C_bb|) ~ 0.01 from sampling alone
    CHECK(s.cca.front() < 0.3);
    CHECK(s.procrustes > 1.5);
  }
}

TEST_CASE("align: Cholesky factor and triangular inverse against naive products") {
  const int n = 7;
  const Mat B = gaussian(n + 3, n, 58);
  const Mat A = mul(transpose(B, n + 3, n), B, n, n + 3, n);  // positive definite
  Mat L;
  REQUIRE(cholesky(A, n, L));
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) CHECK(L[(size_t)i * n + j] == 0.0);
  CHECK_ALL_CLOSE(mul(L, transpose(L, n, n), n, n, n), A, 1e-12, 1e-13);
  Mat eye((size_t)n * n, 0.0);
  for (int i = 0; i < n; ++i) eye[(size_t)i * n + i] = 1;
  CHECK_ALL_CLOSE(mul(lower_inverse(L, n), L, n, n, n), eye, 1e-12, 0);
  Mat singular = A;  // row/column 3 = row/column 2: rank n - 1
  for (int i = 0; i < n; ++i) singular[(size_t)i * n + 3] = singular[(size_t)i * n + 2];
  for (int j = 0; j < n; ++j) singular[(size_t)3 * n + j] = singular[(size_t)2 * n + j];
  CHECK_FALSE(cholesky(singular, n, L));
}

TEST_CASE("align: the bootstrap's score summary equals global_scores (Cholesky path and eigen fallback)") {
  const int N = 800, a = 12, b = 9;
  const Mat X = mul(gaussian(N, a, 51), gaussian(a, a, 52), N, a, a);
  auto correlation = [](Mat C, int n) {
    std::vector<double> sd(n);
    for (int i = 0; i < n; ++i) sd[i] = std::sqrt(C[(size_t)i * n + i]);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) C[(size_t)i * n + j] /= sd[i] * sd[j];
    return C;
  };
  auto check_same = [&](const Mat& P, int pa, const Mat& Q, int qb, bool want_cholesky, const ScoreOptions& opt = {}) {
    const Mat Cpp = cov(P, P, N, pa, pa), Cqq = cov(Q, Q, N, qb, qb), Cpq = cov(P, Q, N, pa, qb);
    const GlobalScores g = global_scores(Cpp, pa, Cqq, qb, Cpq, opt);
    const ScoreSummary s = score_summary(Cpp, pa, Cqq, qb, Cpq, opt);
    // The same statistics by another factorisation: rounding ~1e-15 times the whitening's condition.
    CHECK(s.cka == doctest::Approx(g.cka).epsilon(1e-13));
    CHECK(s.procrustes == doctest::Approx(g.procrustes).epsilon(1e-13));
    CHECK(s.cca_mean == doctest::Approx(g.cca_mean).epsilon(1e-10));
    CHECK(s.svcca_mean == doctest::Approx(g.svcca_mean).epsilon(1e-12));
    CHECK(s.pwcca == doctest::Approx(g.pwcca).epsilon(1e-10));
    // Which path the summary took: the Cholesky one exactly when every direction is kept.
    std::vector<double> sp(pa), sq(qb), rpp = Cpp, rqq = Cqq, rpq = Cpq;
    for (int i = 0; i < pa; ++i) sp[i] = std::sqrt(Cpp[(size_t)i * pa + i]);
    for (int j = 0; j < qb; ++j) sq[j] = std::sqrt(Cqq[(size_t)j * qb + j]);
    for (int i = 0; i < pa; ++i)
      for (int j = 0; j < pa; ++j) rpp[(size_t)i * pa + j] /= sp[i] * sp[j];
    for (int i = 0; i < qb; ++i)
      for (int j = 0; j < qb; ++j) rqq[(size_t)i * qb + j] /= sq[i] * sq[j];
    for (int i = 0; i < pa; ++i)
      for (int j = 0; j < qb; ++j) rpq[(size_t)i * qb + j] /= sp[i] * sq[j];
    double cm = -1, pw = -1;
    CHECK(cca_summary_cholesky(rpp, pa, rqq, qb, rpq, sp, sq, pa <= qb, opt, cm, pw) == want_cholesky);
    // Never the Cholesky path when a direction is cut (the converse holds outside the margin).
    if (want_cholesky) CHECK((g.cca_rank_a == pa && g.cca_rank_b == qb));
    return g;
  };
  SUBCASE("full rank, both weightings (A narrower, then B narrower)") {
    const Mat Z = relu_units(X, N, a, b, 56, 1.0);
    check_same(Z, b, X, a, true);
    check_same(X, a, Z, b, true);
  }
  SUBCASE("independent nets (small canonical correlations, where rho^2 from the Gram loses most)") {
    const Mat Y = gaussian(N, b, 59);
    const GlobalScores g = check_same(X, a, Y, b, true);
    CHECK(g.cca.back() < 0.05);  // near the case the comment in cca_summary_cholesky bounds
    check_same(Y, b, X, a, true);
  }
  SUBCASE("a rank cut the free bound cannot clear but the eigenvalues do: still the Cholesky path") {
    // The cut just below B's lambda_min / lambda_max (by a factor 2.5 > the check's margin 2):
    // every direction is kept, yet 1 / ||L^-1||_F^2 <= lambda_min <= cut * trace when trace >= 2.5
    // lambda_max, so the bound alone would send it to the eigen path.
    const Mat Z = relu_units(X, N, a, b, 56, 1.0);
    const Mat Rzz = correlation(cov(Z, Z, N, b, b), b), Rxx = correlation(cov(X, X, N, a, a), a);
    const SymEig ez = sym_eig(Rzz, b, false), ex = sym_eig(Rxx, a, false);
    const double rz = ez.values.front() / ez.values.back(), rx = ex.values.front() / ex.values.back();
    ScoreOptions opt;
    opt.rank_cut = std::min(rz, rx) / 2.5;
    const Mat& R = rz <= rx ? Rzz : Rxx;  // the tighter side
    const int n = rz <= rx ? b : a;
    Mat L;
    REQUIRE(cholesky(R, n, L));
    double inv2 = 0, tr = 0;
    for (double v : lower_inverse(L, n)) inv2 += v * v;
    for (int i = 0; i < n; ++i) tr += R[(size_t)i * n + i];
    REQUIRE(1.0 / inv2 <= opt.rank_cut * tr);  // the bound alone would not clear it
    check_same(Z, b, X, a, true, opt);
  }
  SUBCASE("a cut inside the check's factor-2 margin: the eigen path, though every direction is kept") {
    // cut = ratio / 1.5: the eigen path keeps every direction, but no test may claim so with less
    // than its margin 2 (the factoring test, R - 2 cut ||R||_inf I, must fail to factor).
    const Mat Z = relu_units(X, N, a, b, 56, 1.0);
    const Mat Rzz = correlation(cov(Z, Z, N, b, b), b), Rxx = correlation(cov(X, X, N, a, a), a);
    const SymEig ez = sym_eig(Rzz, b, false), ex = sym_eig(Rxx, a, false);
    ScoreOptions opt;
    opt.rank_cut = std::min(ez.values.front() / ez.values.back(), ex.values.front() / ex.values.back()) / 1.5;
    const GlobalScores g = check_same(Z, b, X, a, false, opt);
    CHECK((g.cca_rank_a == b && g.cca_rank_b == a));
  }
  SUBCASE("rank-deficient (15 units of rank 12): the eigen path and its rank cut") {
    const int w = 15;
    const Mat Y = mul(X, gaussian(a, w, 55), N, a, w);
    CHECK(check_same(X, a, Y, w, false).cca_rank_b < w);
  }
}

// ---- from moments vs from the raw activations -----------------------------------------------------

TEST_CASE("align: every analysis from accumulated moments equals the same from raw activations") {
  // Two nets sharing latent groups (as in Planted), ReLU units, a dead unit in net B; 1536
  // samples streamed as 8 batches of 16 images x 12 positions through the real accumulator.
  const Planted pl;
  const int N = 1536, na = Planted::na, nb = Planted::nb + 1, k = Planted::k;
  const Mat Z = gaussian(N, k, 61), E = gaussian(N, na + nb, 62);
  Mat X((size_t)N * na), Y((size_t)N * nb, 0.0);
  for (int s = 0; s < N; ++s)
    for (int u = 0; u < Planted::n; ++u) {
      const double gain = 1.0 + 0.1 * (u % 7);
      const double v = std::max(0.0, gain * Z[(size_t)s * k + pl.label[u]] + 0.5 * E[(size_t)s * (na + nb) + u] + 0.2);
      if (u < na)
        X[(size_t)s * na + u] = v;
      else
        Y[(size_t)s * nb + (u - na)] = v;
    }
  const int dead = nb - 1;  // Y's last unit stays 0
  const Moments m = accumulate(X, Y, N, na, nb, 16, 12);
  const Mat Xf = as_float(X), Yf = as_float(Y);

  const PairMoments pm = pair_moments(m, 0, 1);
  REQUIRE(pm.zero_b == std::vector<int>{dead});
  REQUIRE(pm.zero_a.empty());
  REQUIRE(pm.nb() == nb - 1);
  const int b = nb - 1;
  Mat Yv((size_t)N * b);  // B's valid units
  for (int s = 0; s < N; ++s)
    for (int j = 0; j < b; ++j) Yv[(size_t)s * b + j] = Yf[(size_t)s * nb + j];

  // The accumulator sums float32 products of float32 values (tests/test_stats: ~1e-6 relative to
  // a float64 two-pass reference); measured here ~1e-7 on covariances of scale ~1: 1e-6.
  CHECK_ALL_CLOSE(pm.cov_aa, cov(Xf, Xf, N, na, na), 1e-6, 1e-6);
  CHECK_ALL_CLOSE(pm.cov_ab, cov(Xf, Yv, N, na, b), 1e-6, 1e-6);
  // The transposed view reads the stored pair transposed.
  const PairMoments pt = pair_moments(m, 1, 0);
  CHECK_ALL_CLOSE(pt.cov_ab, transpose(pm.cov_ab, na, b), 0, 0);
  CHECK(pt.zero_a == pm.zero_b);

  SUBCASE("CKA from N x N Gram matrices of the samples") {
    const Mat Xc = centred(Xf, N, na), Yc = centred(Yv, N, b);
    const Mat K = mul(Xc, transpose(Xc, N, na), N, na, N), L = mul(Yc, transpose(Yc, N, b), N, b, N);
    double kl = 0, kk = 0, ll = 0;
    for (size_t e = 0; e < K.size(); ++e) kl += K[e] * L[e], kk += K[e] * K[e], ll += L[e] * L[e];
    const GlobalScores s = global_scores(pm);
    CHECK(s.cka == doctest::Approx(kl / std::sqrt(kk * ll)).epsilon(1e-5));
  }
  SUBCASE("CCA, SVCCA and PWCCA from orthonormal bases of the data") {
    const GlobalScores s = global_scores(pm);
    int ra = 0, rb = 0;
    const Mat Qx = orthonormal_columns(centred(Xf, N, na), N, na, &ra);
    const Mat Qy = orthonormal_columns(centred(Yv, N, b), N, b, &rb);
    REQUIRE(ra == na);
    REQUIRE(rb == b);
    const Mat M = mul(transpose(Qx, N, ra), Qy, ra, N, rb);
    const Svd d = svd(M, ra, rb);
    // Whitening multiplies the moments' ~1e-7 errors by the condition number of the correlation
    // matrices (< 30 here); measured ~5e-7: 1e-5.
    CHECK(s.cca_rank_a == na);
    CHECK(s.cca_rank_b == b);
    CHECK_ALL_CLOSE(s.cca, d.s, 1e-5, 0);
    // PWCCA as Morcos et al.'s code computes it: canonical variates h_i = Qx u_i in sample space,
    // alpha_i = sum_j |<h_i, x_j>| over the centred units.
    const Mat Xc = centred(Xf, N, na);
    double num = 0, den = 0;
    for (int i = 0; i < d.k; ++i) {
      std::vector<double> h(N, 0.0);
      for (int s2 = 0; s2 < N; ++s2)
        for (int c = 0; c < ra; ++c) h[s2] += Qx[(size_t)s2 * ra + c] * d.u[(size_t)i * ra + c];
      double alpha = 0;
      for (int j = 0; j < na; ++j) {
        double dot = 0;
        for (int s2 = 0; s2 < N; ++s2) dot += h[s2] * Xc[(size_t)s2 * na + j];
        alpha += std::fabs(dot);
      }
      num += alpha * d.s[i], den += alpha;
    }
    CHECK(s.pwcca_a == doctest::Approx(num / den).epsilon(1e-5));
    // SVCCA: principal directions from the SVD of the data matrix, 99% of the variance kept.
    auto reduce = [&](const Mat& D, int c, int* kept) {
      const Mat Dc = centred(D, N, c);
      const Svd sd = svd(Dc, N, c);
      double total = 0, run = 0;
      for (double x : sd.s) total += x * x;
      *kept = 0;
      for (double x : sd.s) {
        run += x * x, ++*kept;
        if (run >= 0.99 * total) break;
      }
      Mat P((size_t)N * *kept);  // projections onto the kept directions
      for (int s2 = 0; s2 < N; ++s2)
        for (int kk = 0; kk < *kept; ++kk) P[(size_t)s2 * *kept + kk] = sd.s[kk] * sd.u[(size_t)kk * N + s2];
      return P;
    };
    int ka = 0, kb = 0;
    const Mat Pa = reduce(Xf, na, &ka), Pb = reduce(Yv, b, &kb);
    CHECK(s.svcca_dims_a == ka);
    CHECK(s.svcca_dims_b == kb);
    int qa = 0, qb = 0;
    const Mat Qa = orthonormal_columns(Pa, N, ka, &qa), Qb = orthonormal_columns(Pb, N, kb, &qb);
    const std::vector<double> sv = singular_values(mul(transpose(Qa, N, qa), Qb, qa, N, qb), qa, qb);
    CHECK_ALL_CLOSE(s.svcca, sv, 1e-5, 0);
  }
  SUBCASE("Procrustes: the optimal rotation applied to the data") {
    // Pad net B to A's width and solve min_Q ||X/|X| - (Y/|Y|) Q|| by the SVD of Y^T X; evaluate
    // the residual on the samples themselves.
    const Mat Xc = centred(Xf, N, na), Yc0 = centred(Yv, N, b);
    Mat Yc((size_t)N * na, 0.0);
    for (int s2 = 0; s2 < N; ++s2)
      for (int j = 0; j < b; ++j) Yc[(size_t)s2 * na + j] = Yc0[(size_t)s2 * b + j];
    double nx = 0, ny = 0;
    for (double v : Xc) nx += v * v;
    for (double v : Yc) ny += v * v;
    const Svd d = svd(mul(transpose(Yc, N, na), Xc, na, N, na), na, na);
    Mat Q((size_t)na * na, 0.0);  // U V^T
    for (int kk = 0; kk < d.k; ++kk)
      for (int i = 0; i < na; ++i)
        for (int j = 0; j < na; ++j) Q[(size_t)i * na + j] += d.u[(size_t)kk * na + i] * d.v[(size_t)kk * na + j];
    const Mat YQ = mul(Yc, Q, N, na, na);
    double res = 0;
    for (size_t e = 0; e < Xc.size(); ++e) {
      const double diff = Xc[e] / std::sqrt(nx) - YQ[e] / std::sqrt(ny);
      res += diff * diff;
    }
    CHECK(global_scores(pm).procrustes == doctest::Approx(res).epsilon(1e-5));
  }
  SUBCASE("Lasso from moments vs coordinate descent on the standardised samples") {
    SparsePredictionOptions opt;
    opt.penalties = {1e-1, 1e-2, std::pow(10.0, -2.6)};
    opt.lasso.gap_tol = 1e-12;
    const SparsePrediction sp = sparse_prediction(pm.corr_aa, pm.corr_ab, na, b, opt);
    // Data-space CD: residual e = y - Xs w over the samples, w_j <- S(w_j + <x_j, e>/N, lambda).
    auto standardise = [&](const Mat& D, int c) {
      Mat S = centred(D, N, c);
      for (int j = 0; j < c; ++j) {
        double v = 0;
        for (int s2 = 0; s2 < N; ++s2) v += S[(size_t)s2 * c + j] * S[(size_t)s2 * c + j];
        const double sd = std::sqrt(v / N);
        for (int s2 = 0; s2 < N; ++s2) S[(size_t)s2 * c + j] /= sd;
      }
      return S;
    };
    const Mat Xs = standardise(Xf, na), Ys = standardise(Yv, b);
    for (int t : {0, 7, b - 1}) {
      std::vector<double> w(na, 0.0), e = column(Ys, N, b, t);  // warm starts down the penalties
      for (int p = 0; p < 3; ++p) {
        const double lambda = opt.penalties[p];
        for (int sweep = 0, moved = 1; sweep < 5000 && moved; ++sweep) {
          moved = 0;
          for (int j = 0; j < na; ++j) {
            double z = 0;
            for (int s2 = 0; s2 < N; ++s2) z += Xs[(size_t)s2 * na + j] * e[s2];
            z = z / N + w[j];
            const double fresh = z > lambda ? z - lambda : (z < -lambda ? z + lambda : 0.0);
            if (fresh != w[j])
              for (int s2 = 0; s2 < N; ++s2) e[s2] -= (fresh - w[j]) * Xs[(size_t)s2 * na + j];
            if (std::fabs(fresh - w[j]) > 1e-13) moved = 1;
            w[j] = fresh;
          }
        }
        double mse = 0;
        for (double v : e) mse += v * v;
        std::vector<double> stored(na);
        for (int i = 0; i < na; ++i) stored[i] = sp.weights[p][(size_t)t * na + i];
        CAPTURE(t);
        CAPTURE(lambda);
        // Correlations off by ~1e-7 move the solution by ~cond * 1e-7 (measured <~ 1e-6).
        CHECK_ALL_CLOSE(stored, w, 1e-5, 1e-5);
        CHECK(sp.mse[p][t] == doctest::Approx(mse / N).epsilon(1e-5));
      }
    }
  }
  SUBCASE("spectral groups from moments equal those from the raw correlation matrix") {
    const Mat J = joint_correlation(pm);
    const int n = na + b;
    Mat XY((size_t)N * n);
    for (int s2 = 0; s2 < N; ++s2) {
      for (int i = 0; i < na; ++i) XY[(size_t)s2 * n + i] = Xf[(size_t)s2 * na + i];
      for (int j = 0; j < b; ++j) XY[(size_t)s2 * n + na + j] = Yv[(size_t)s2 * b + j];
    }
    const Mat Cj = cov(XY, XY, N, n, n);
    const std::vector<double> sj = diag_sqrt(Cj, n);
    const Mat Jraw = standardise_cov(Cj, sj, sj);
    CHECK_ALL_CLOSE(J, Jraw, 1e-5, 0);
    const SpectralGroups g1 = spectral_groups(J, n, na), g2 = spectral_groups(Jraw, n, na);
    CHECK(g1.k == k);
    CHECK(g1.label == g2.label);
    std::vector<int> planted(pl.label.begin(), pl.label.end());  // the dead unit was last: dropped
    CHECK(same_partition(g1.label, planted));
    CHECK(g1.mixed == 4);
  }
}

// ---- cuSOLVER -------------------------------------------------------------------------------------

TEST_CASE("align: cuSOLVER eigen-decomposition matches LAPACK (GPU)") {
  if (!test::gpu_or_skip()) return;
  std::string why;
  const bool have = cusolver_available(&why);
  if (!test::library_or_skip("cuSOLVER", have)) return;
  INFO("libcusolver: ", why);
  REQUIRE(have);
  const int n = 300;
  const Mat B = gaussian(n, n, 71);
  Mat A((size_t)n * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) A[(size_t)i * n + j] = B[(size_t)i * n + j] + B[(size_t)j * n + i];
  const SymEig cpu = sym_eig(A, n, true, {EigOptions::Cpu});
  const SymEig gpu = sym_eig(A, n, true, {EigOptions::Gpu});
  CHECK(gpu.solver.find("cusolver") == 0);
  // Both backward stable in double: eigenvalues within ~n * 1e-16 * |A|_2 (|A|_2 ~ 2 sqrt(2n) ~ 50):
  // atol 1e-11. Eigenvectors agree up to sign where eigenvalues are separated: |<v, v'>| = 1 within
  // 1e-16 |A| / gap; gaps here are >~ 1e-3, so 1e-9 (pairs closer than 1e-3 are skipped).
  const double err = test::worst_error(gpu.values, cpu.values, 1e-11, 0);
  double worst_vec = 0;
  for (int k = 0; k < n; ++k) {
    const double gap =
        std::min(k > 0 ? cpu.values[k] - cpu.values[k - 1] : INFINITY, k + 1 < n ? cpu.values[k + 1] - cpu.values[k] : INFINITY);
    if (gap < 1e-3) continue;
    double d = 0;
    for (int i = 0; i < n; ++i) d += gpu.vectors[(size_t)k * n + i] * cpu.vectors[(size_t)k * n + i];
    worst_vec = std::max(worst_vec, std::fabs(1.0 - std::fabs(d)) / 1e-9);
  }
  test::record_gpu_result("align cusolver syevd", std::max(err, worst_vec));
  CHECK(err <= 1);
  CHECK(worst_vec <= 1);
}
