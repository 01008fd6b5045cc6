// gemm and the fully-connected layer: CPU twin vs naive double loops, finite differences, and the
// CUDA twin vs the CPU twin. Tolerances are the rounding bounds of tests/bounds.h.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "kernels/fc.h"
#include "kernels/gemm.h"
#include "nn/tensor.h"
#include "tests/bounds.h"
#include "tests/check.h"
#include "tests/grad_check.h"

using namespace cvg;

namespace {

// A row-major matrix stored with row stride ld >= cols; the padding holds NaN so that any read of
// it poisons the result and any write to it shows.
struct Mat {
  int rows, cols, ld;
  std::vector<float> v;
  Mat(int r, int c, int ld_, uint64_t seed) : rows(r), cols(c), ld(ld_), v((size_t)std::max(r, 1) * ld_, NAN) {
    auto x = test::randn((size_t)r * c, seed);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < c; ++j) v[(size_t)i * ld + j] = x[(size_t)i * c + j];
  }
  double at(int i, int j) const { return v[(size_t)i * ld + j]; }
};

struct GemmCase {
  bool ta, tb;
  int m, n, k;
  float alpha, beta;
};

// Exact (double) result and the absolute-value sum used by the bound, both of the used entries of C.
void naive_gemm(const GemmCase& c, const Mat& A, const Mat& B, const Mat& C0, std::vector<double>& want,
                std::vector<double>& absref) {
  want.assign((size_t)c.m * c.n, 0), absref.assign((size_t)c.m * c.n, 0);
  for (int i = 0; i < c.m; ++i)
    for (int j = 0; j < c.n; ++j) {
      double s = 0, sa = 0;
      for (int l = 0; l < c.k; ++l) {
        double a = c.ta ? A.at(l, i) : A.at(i, l), b = c.tb ? B.at(j, l) : B.at(l, j);
        s += a * b, sa += std::fabs(a * b);
      }
      double c0 = c.beta == 0 ? 0 : C0.at(i, j);
      want[(size_t)i * c.n + j] = c.alpha * s + c.beta * c0;
      absref[(size_t)i * c.n + j] = std::fabs(c.alpha) * sa + std::fabs(c.beta * c0);
    }
}

std::vector<float> used_part(const Mat& C) {
  std::vector<float> u((size_t)C.rows * C.cols);
  for (int i = 0; i < C.rows; ++i)
    for (int j = 0; j < C.cols; ++j) u[(size_t)i * C.cols + j] = C.v[(size_t)i * C.ld + j];
  return u;
}
bool padding_untouched(const Mat& C) {
  for (int i = 0; i < C.rows; ++i)
    for (int j = C.cols; j < C.ld; ++j)
      if (!std::isnan(C.v[(size_t)i * C.ld + j])) return false;
  return true;
}

std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> cs;
  for (int t = 0; t < 4; ++t) {
    bool ta = t & 1, tb = t & 2;
    cs.push_back({ta, tb, 37, 29, 43, 0.7f, -1.3f});
    cs.push_back({ta, tb, 1, 1, 1, 1.0f, 0.0f});
    cs.push_back({ta, tb, 131, 97, 257, 1.0f, 0.0f});   // big enough for the threaded split of rows
    cs.push_back({ta, tb, 70, 301, 123, -0.5f, 2.0f});  // ... and of columns
    cs.push_back({ta, tb, 9, 700, 400, 1.0f, 0.5f});    // few rows, many columns (an fc layer's forward)
    cs.push_back({ta, tb, 5, 3, 0, 1.0f, 0.5f});        // k = 0: C = beta C
  }
  return cs;
}

// Stored shapes: A is m x k (k x m when ta), B is k x n (n x k when tb); odd paddings on every ld.
Mat make_A(const GemmCase& c, uint64_t s) { return c.ta ? Mat(c.k, c.m, c.m + 3, s) : Mat(c.m, c.k, c.k + 5, s); }
Mat make_B(const GemmCase& c, uint64_t s) { return c.tb ? Mat(c.n, c.k, c.k + 2, s) : Mat(c.k, c.n, c.n + 7, s); }

}  // namespace

TEST_CASE("gemm: CPU twin matches a naive loop for all transposes, odd sizes, padded strides; same bits on 1 and 3 threads") {
  const std::vector<GemmCase> cases = gemm_cases();
  std::vector<std::vector<float>> one_thread;  // per case, C from the 1-thread run
  for (int threads : {1, 3}) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const GemmCase& c = cases[ci];
      CAPTURE(c.ta);
      CAPTURE(c.tb);
      CAPTURE(c.m);
      CAPTURE(c.n);
      CAPTURE(c.k);
      CAPTURE(threads);
      Mat A = make_A(c, 1), B = make_B(c, 2), C(c.m, c.n, c.n + 1, 3);
      if (c.beta == 0)
        for (int i = 0; i < c.m; ++i)  // beta 0 must overwrite C, NaN included
          for (int j = 0; j < c.n; ++j) C.v[(size_t)i * C.ld + j] = NAN;
      std::vector<double> want, absref;
      naive_gemm(c, A, B, C, want, absref);
      cpu::gemm(c.ta, c.tb, c.m, c.n, c.k, c.alpha, A.v.data(), A.ld, B.v.data(), B.ld, c.beta, C.v.data(), C.ld);
      // k products, the alpha scale, the beta term and its addition: gamma(k + 3).
      test::check_bound("gemm", used_part(C), want, absref, test::gamma_n(c.k + 3));
      CHECK(padding_untouched(C));
      // Our kernels (alpha 1, not both transposed) compute every element whole on one thread, in
      // an order that no split changes; OpenBLAS, for the rest, blocks each thread's part its own way.
      const bool ours = std::strcmp(cpu::gemm_kernels(), "openblas") != 0 && c.alpha == 1.0f && !(c.ta && c.tb);
      if (threads == 1)
        one_thread.push_back(used_part(C));
      else if (ours)
        CHECK(used_part(C) == one_thread.at(ci));
    }
    omp_set_num_threads(saved);
  }
}

TEST_CASE("gemm: bad leading dimensions are rejected with a clear error") {
  std::vector<float> a(16), b(16), c(16);
  // The message gives the leading dimensions, so the caller sees which one is short.
  CHECK_THROWS_WITH_AS(cpu::gemm(false, false, 4, 4, 4, 1, a.data(), 3, b.data(), 4, 0, c.data(), 4),
                       doctest::Contains("leading dimension smaller than a row (lda 3, ldb 4, ldc 4)"), std::logic_error);
  CHECK_THROWS_WITH_AS(cpu::gemm(false, false, 4, 4, 4, 1, a.data(), 4, b.data(), 4, 0, c.data(), 2),
                       doctest::Contains("leading dimension smaller than a row (lda 4, ldb 4, ldc 2)"), std::logic_error);
}

namespace {

struct FcRef {
  std::vector<double> y, dx, dw, db;  // y = x w^T + b and the gradients of <r, y>
};
FcRef naive_fc(int n, int in, int out, const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
               const std::vector<double>& r) {
  FcRef f{std::vector<double>((size_t)n * out), std::vector<double>((size_t)n * in, 0.0),
          std::vector<double>((size_t)out * in, 0.0), std::vector<double>(out, 0.0)};
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o) {
      double s = b[o];
      const double ro = r[(size_t)i * out + o];
      for (int j = 0; j < in; ++j) {
        s += x[(size_t)i * in + j] * w[(size_t)o * in + j];
        f.dx[(size_t)i * in + j] += ro * w[(size_t)o * in + j];
        f.dw[(size_t)o * in + j] += ro * x[(size_t)i * in + j];
      }
      f.y[(size_t)i * out + o] = s;
      f.db[o] += ro;
    }
  return f;
}
std::vector<double> dbl(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> dabs(const std::vector<float>& v) {
  std::vector<double> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs((double)v[i]);
  return a;
}

}  // namespace

TEST_CASE("fc: CPU twin matches naive loops, and its gradients match finite differences") {
  const int n = 7, in = 33, out = 13;
  auto x = test::randn((size_t)n * in, 11), w = test::randn((size_t)out * in, 12), b = test::randn(out, 13),
       r = test::randn((size_t)n * out, 14);
  std::vector<float> y((size_t)n * out, NAN), dx((size_t)n * in, NAN), dw((size_t)out * in, NAN), db(out, NAN);
  cpu::fc_forward(n, in, out, x.data(), w.data(), b.data(), y.data());
  cpu::fc_backward_data(n, in, out, r.data(), w.data(), dx.data());
  cpu::fc_backward_weights(n, in, out, x.data(), r.data(), dw.data(), db.data());

  FcRef want = naive_fc(n, in, out, dbl(x), dbl(w), dbl(b), dbl(r));
  const FcRef abs = naive_fc(n, in, out, dabs(x), dabs(w), dabs(b), dabs(r));
  test::check_bound("fc forward", y, want.y, abs.y, test::gamma_n(in + 1));
  test::check_bound("fc backward data", dx, want.dx, abs.dx, test::gamma_n(out));
  test::check_bound("fc backward weights", dw, want.dw, abs.dw, test::gamma_n(n));
  test::check_bound("fc backward bias", db, want.db, abs.db, test::gamma_n(n));

  // L = <r, y(x, w, b)> in double; central differences. L is linear in each variable, so the
  // difference quotient is exact up to double rounding (~1e-16 |L| / h); the analytic float
  // gradient is within the rounding bound above.
  auto xd = dbl(x), wd = dbl(w), bd = dbl(b), rd = dbl(r);
  auto loss = [&]() {
    auto y = naive_fc(n, in, out, xd, wd, bd, rd).y;
    double L = 0;
    for (size_t i = 0; i < y.size(); ++i) L += rd[i] * y[i];
    return L;
  };
  std::vector<test::GradVar<double>> vars{{"x", &xd, dx, 1e-3, test::gamma_n(out), 1e-9, abs.dx},
                                          {"w", &wd, dw, 1e-3, test::gamma_n(n), 1e-9, abs.dw},
                                          {"b", &bd, db, 1e-3, test::gamma_n(n), 1e-9, abs.db}};
  test::check_gradients<double>(loss, vars, {0, 0});

  // A null bias is allowed and means zero.
  std::vector<float> y0((size_t)n * out, NAN);
  cpu::fc_forward(n, in, out, x.data(), w.data(), nullptr, y0.data());
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o) want.y[(size_t)i * out + o] -= b[o];
  test::check_bound("fc forward, no bias", y0, want.y, abs.y, test::gamma_n(in + 1));
}

TEST_CASE("fc: CPU twin is bit-identical run to run") {
  const int n = 64, in = 500, out = 300;  // large enough for the threaded split
  auto x = test::randn((size_t)n * in, 21), w = test::randn((size_t)out * in, 22), dy = test::randn((size_t)n * out, 23);
  std::vector<float> a((size_t)out * in), b((size_t)out * in), da(out), dbb(out);
  cpu::fc_backward_weights(n, in, out, x.data(), dy.data(), a.data(), da.data());
  cpu::fc_backward_weights(n, in, out, x.data(), dy.data(), b.data(), dbb.data());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  CHECK(std::memcmp(da.data(), dbb.data(), da.size() * 4) == 0);
}
