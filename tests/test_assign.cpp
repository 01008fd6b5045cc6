#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "analysis/match/match.h"
#include "kernels/assign.h"
#include "kernels/assign_core.h"
#include "kernels/rng.h"
#include "nn/tensor.h"
#include "tests/check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

bool is_matching(const std::vector<int64_t>& r2c, int n, int m) {
  std::vector<char> used(m, 0);
  int matched = 0;
  for (int i = 0; i < n; ++i) {
    int64_t j = r2c[i];
    if (j < -1 || j >= m) return false;
    if (j >= 0) {
      if (used[j]) return false;
      used[j] = 1, ++matched;
    }
  }
  return matched == std::min(n, m);
}

// Best value over all matchings of min(n, m) pairs, by enumeration.
double brute_force(const std::vector<double>& M, int n, int m, bool minimize) {
  const bool tr = n > m;
  const int rows = std::min(n, m), cols = std::max(n, m);
  auto at = [&](int r, int c) { return tr ? M[(size_t)c * m + r] : M[(size_t)r * m + c]; };
  double best = minimize ? INFINITY : -INFINITY;
  std::vector<char> used(cols, 0);
  std::function<void(int, double)> rec = [&](int r, double s) {
    if (r == rows) {
      best = minimize ? std::min(best, s) : std::max(best, s);
      return;
    }
    for (int c = 0; c < cols; ++c)
      if (!used[c]) used[c] = 1, rec(r + 1, s + at(r, c)), used[c] = 0;
  };
  rec(0, 0.0);
  return best;
}

struct Exact {
  std::vector<int64_t> r2c;
  std::vector<double> u, v;
  double objective;
};
Exact run_exact(const std::vector<double>& M, int n, int m, bool minimize) {
  Exact e{std::vector<int64_t>(n), std::vector<double>(n), std::vector<double>(m), 0};
  std::vector<char> work(cpu::assign_exact_workspace_bytes(n, m) + 64);
  void* w = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(work.data()) + 63) / 64 * 64);
  e.objective = cpu::assign_exact(M.data(), n, m, minimize, e.r2c.data(), e.u.data(), e.v.data(), w);
  return e;
}

// Independent optimality certificate in double, in the problem's own sense (maximise shown; the
// minimise case flips every inequality): u_i + v_j >= M_ij everywhere, with equality on matched
// pairs, and potentials >= 0 on the larger side, 0 where unmatched. Then any matching is worth at
// most sum(u) + sum(v) = the solver's objective. `tol` absorbs the rounding of potentials that were
// built by O(n) additions of values of size `scale`: n * 1e-16 * scale is ~1e-13 * scale at n = 1024;
// 1e-9 * scale leaves a wide margin yet is far below any gap a wrong matching would show.
void check_certificate(const std::vector<double>& M, int n, int m, bool minimize, const Exact& e) {
  double scale = 1;
  for (double x : M) scale = std::max(scale, std::fabs(x));
  const double tol = 1e-9 * scale, s = minimize ? -1 : 1;
  REQUIRE(is_matching(e.r2c, n, m));
  double worst_feasibility = 0, worst_slack = 0, worst_sign = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) worst_feasibility = std::max(worst_feasibility, s * (M[(size_t)i * m + j] - e.u[i] - e.v[j]));
  for (int i = 0; i < n; ++i)
    if (e.r2c[i] >= 0) worst_slack = std::max(worst_slack, std::fabs(e.u[i] + e.v[e.r2c[i]] - M[(size_t)i * m + e.r2c[i]]));
  if (n != m) {  // the larger side's potentials
    std::vector<char> matched(std::max(n, m), 0);
    for (int i = 0; i < n; ++i)
      if (e.r2c[i] >= 0) matched[n > m ? i : e.r2c[i]] = 1;
    const std::vector<double>& big = n > m ? e.u : e.v;
    for (size_t k = 0; k < big.size(); ++k) {
      worst_sign = std::max(worst_sign, -s * big[k]);
      if (!matched[k]) worst_sign = std::max(worst_sign, std::fabs(big[k]));
    }
  }
  double dual = 0;
  for (double x : e.u) dual += x;
  for (double x : e.v) dual += x;
  INFO("feasibility ", worst_feasibility, " slackness ", worst_slack, " sign ", worst_sign, " tol ", tol);
  CHECK(worst_feasibility <= tol);
  CHECK(worst_slack <= tol);
  CHECK(worst_sign <= tol);
  CHECK(std::fabs(dual - e.objective) <= std::min(n, m) * tol);
  CHECK(std::fabs(matching_value(M.data(), n, m, e.r2c) - e.objective) <= std::min(n, m) * 1e-15 * scale + 1e-300);
}

AuctionReport run_auction_cpu(const std::vector<double>& M, int n, int m, bool minimize, std::vector<int64_t>& r2c) {
  r2c.assign(n, -2);
  std::vector<char> work(cpu::assign_auction_workspace_bytes(n, m) + 256);
  void* w = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(work.data()) + 255) / 256 * 256);
  return cpu::assign_auction(M.data(), n, m, minimize, r2c.data(), w);
}

// The auction's claims: a certified matching, exactly optimal for the quantised benefits (checked
// by the exact solver on the level matrix), hence within error_bound of the real optimum.
void check_auction(const std::vector<double>& M, int n, int m, bool minimize, const AuctionReport& rep,
                   const std::vector<int64_t>& r2c, double exact_objective) {
  REQUIRE(is_matching(r2c, n, m));
  CHECK(rep.certified);
  CHECK(rep.violations == 0);
  CHECK(rep.objective == doctest::Approx(matching_value(M.data(), n, m, r2c)).epsilon(1e-12));
  // Worse than the optimum by at most the bound (plus double rounding of the two sums).
  double scale = 1;
  for (double x : M) scale = std::max(scale, std::fabs(x));
  const double slack = std::min(n, m) * 1e-14 * scale;
  const double loss = minimize ? rep.objective - exact_objective : exact_objective - rep.objective;
  INFO("loss ", loss, " bound ", rep.error_bound);
  CHECK(loss >= -slack);
  CHECK(loss <= rep.error_bound + slack);
  // Optimal for the quantised problem: same level sum as the exact solver's on the levels.
  double lo = INFINITY, hi = -INFINITY;
  for (double x : M) lo = std::min(lo, minimize ? -x : x), hi = std::max(hi, minimize ? -x : x);
  CHECK(rep.levels == assign_core::make_plan(n, m, minimize, lo, hi).K);
  std::vector<double> levels(M.size());
  for (size_t k = 0; k < M.size(); ++k) levels[k] = assign_core::level_of(M[k], minimize, lo, hi - lo, rep.levels);
  Exact q = run_exact(levels, n, m, false);
  CHECK(matching_value(levels.data(), n, m, r2c) == q.objective);
}

}  // namespace

TEST_CASE("assign: exact solver and auction twin equal brute force on every small shape") {
  for (int n = 1; n <= 7; ++n)
    for (int m = 1; m <= 7; ++m)
      for (int kind = 0; kind < 3; ++kind) {
        uint64_t seed = 100 * n + 10 * m + kind;
        std::vector<double> M = kind == 0   ? synthetic_matrix(MatrixKind::Uniform, n, m, seed)
                                : kind == 1 ? synthetic_matrix(MatrixKind::Correlation, n, m, seed)
                                            : test::ints(n, m, 3, seed);  // many ties
        for (bool minimize : {false, true}) {
          CAPTURE(n);
          CAPTURE(m);
          CAPTURE(kind);
          CAPTURE(minimize);
          double want = brute_force(M, n, m, minimize);
          Exact e = run_exact(M, n, m, minimize);
          CHECK(e.objective == doctest::Approx(want).epsilon(1e-13));
          check_certificate(M, n, m, minimize, e);
          std::vector<int64_t> r2c;
          AuctionReport rep = run_auction_cpu(M, n, m, minimize, r2c);
          check_auction(M, n, m, minimize, rep, r2c, want);
        }
      }
  // 8 x 8: 40320 permutations.
  std::vector<double> M = synthetic_matrix(MatrixKind::Correlation, 8, 8, 77);
  for (bool minimize : {false, true}) {
    Exact e = run_exact(M, 8, 8, minimize);
    CHECK(e.objective == doctest::Approx(brute_force(M, 8, 8, minimize)).epsilon(1e-13));
  }
}

TEST_CASE("assign: exact solver's optimality certificate holds on random, structured and adversarial inputs") {
  for (const test::AssignCase& c : test::assign_cases(true))
    for (bool minimize : {false, true}) {
      CAPTURE(c.name);
      CAPTURE(minimize);
      Exact e = run_exact(c.M, c.n, c.m, minimize);
      check_certificate(c.M, c.n, c.m, minimize, e);
    }
}

TEST_CASE("assign: the certificate check catches a wrong matching") {
  // Guards the test above: swap two matched columns of a correct answer and the check must fail.
  std::vector<double> M = synthetic_matrix(MatrixKind::Uniform, 50, 50, 3);
  Exact e = run_exact(M, 50, 50, false);
  std::swap(e.r2c[0], e.r2c[1]);
  double slack = std::fabs(e.u[0] + e.v[e.r2c[0]] - M[e.r2c[0]]);
  CHECK(slack > 1e-6);
}

TEST_CASE("assign: auction twin certifies itself and is within its bound of the exact optimum") {
  for (const test::AssignCase& c : test::assign_cases(false))
    for (bool minimize : {false, true}) {
      CAPTURE(c.name);
      CAPTURE(minimize);
      Exact e = run_exact(c.M, c.n, c.m, minimize);
      std::vector<int64_t> r2c;
      AuctionReport rep = run_auction_cpu(c.M, c.n, c.m, minimize, r2c);
      check_auction(c.M, c.n, c.m, minimize, rep, r2c, e.objective);
      CHECK(rep.error_bound == doctest::Approx(std::min(c.n, c.m) * rep.quantum));
    }
  // The bound is tight enough to matter: ~1e-6 of the value range at n = 1024.
  std::vector<double> M = synthetic_matrix(MatrixKind::Correlation, 1024, 1024, 5);
  std::vector<int64_t> r2c;
  AuctionReport rep = run_auction_cpu(M, 1024, 1024, false, r2c);
  check_auction(M, 1024, 1024, false, rep, r2c, run_exact(M, 1024, 1024, false).objective);
  CHECK(rep.quantum <= 2.0 / (1 << 29));
  CHECK(rep.error_bound < 4e-6);
}

TEST_CASE("assign: empty matrices, and the wrapper's input checks") {
  std::vector<int64_t> r2c(3, 7);
  CHECK(cpu::assign_exact(nullptr, 3, 0, false, r2c.data(), nullptr, nullptr, nullptr) == 0);
  CHECK(r2c == std::vector<int64_t>(3, -1));
  r2c.assign(3, 7);
  AuctionReport rep = cpu::assign_auction(nullptr, 3, 0, true, r2c.data(), nullptr);
  CHECK(rep.certified);
  CHECK(r2c == std::vector<int64_t>(3, -1));
  std::vector<double> M = {1, 2, NAN, 4};
  CHECK_THROWS_WITH_AS(assign(M.data(), 2, 2, Solver::Exact, false, Device::cpu()),
                       doctest::Contains("entry (1, 0) is not finite"), InputError);
  CHECK_THROWS_AS(parse_solver("hungarian"), InputError);
  // The wrapper picks the solver and reports what ran.
  M = {1, 5, 4, 2};
  Assignment a = assign(M.data(), 2, 2, Solver::Exact, false, Device::cpu());
  CHECK(a.row_to_col == std::vector<int64_t>{1, 0});
  CHECK(a.objective == 9);
  Assignment b = assign(M.data(), 2, 2, Solver::Auction, true, Device::cpu());
  CHECK(b.row_to_col == std::vector<int64_t>{0, 1});
  CHECK(b.objective == 3);
  CHECK(b.solver == "auction (cpu twin)");
}

TEST_CASE("assign: a value range that would overflow the potentials is refused") {
  std::vector<double> M = {-1e308, 1e308, 0, 1};
  CHECK_THROWS_WITH_AS(assign(M.data(), 2, 2, Solver::Exact, false, Device::cpu()), doctest::Contains("too wide"), InputError);
}
