#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/lrn.h"
#include "kernels/lrn_core.h"
#include "nn/tensor.h"
#include "tests/check.h"
#include "tests/grad_check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

int pre_of(const LrnGeom& g) { return (g.size - 1) / 2; }

// Naive LRN in double: channel i's window is i - pre .. i - pre + size - 1, clipped.
void naive_forward(const LrnGeom& g, const std::vector<float>& x, std::vector<double>& scale, std::vector<double>& y) {
  const size_t hw = (size_t)g.h * g.w;
  scale.assign(x.size(), 0), y.assign(x.size(), 0);
  for (int n = 0; n < g.n; ++n)
    for (int c = 0; c < g.c; ++c)
      for (size_t p = 0; p < hw; ++p) {
        double s = 0;
        for (int j = c - pre_of(g); j < c - pre_of(g) + g.size; ++j)
          if (j >= 0 && j < g.c) s += (double)x[(n * g.c + j) * hw + p] * x[(n * g.c + j) * hw + p];
        const size_t i = (n * g.c + c) * hw + p;
        scale[i] = g.k + (double)g.alpha / g.size * s;
        y[i] = x[i] * std::pow(scale[i], -(double)g.beta);
      }
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double)a[i] * b[i];
  return s;
}

}  // namespace

TEST_CASE("lrn: s^-0.75 by square roots is pow in double rounded to float, with powf's special values") {
  // Two correctly rounded sqrts, a product and a division in double: relative error ~4e-16 before
  // the one rounding to float, so the result is the nearest float to s^-0.75 except where that
  // value lies within ~4e-16 of a tie (none among these); a wrong exponent or float arithmetic
  // (~2 ulp) would miss.
  int tested = 0;
  for (double e = -37; e <= 37; e += 0.013) {
    const float s = (float)std::pow(10.0, e);
    const float got = lrn_core::pow_minus_075(s);
    CHECK(got == (float)std::pow((double)s, -0.75));
    ++tested;
  }
  CHECK(tested > 5000);
  CHECK(std::isinf(lrn_core::pow_minus_075(0.0f)));
  CHECK(lrn_core::pow_minus_075(INFINITY) == 0.0f);
  CHECK(std::isnan(lrn_core::pow_minus_075(NAN)));
  CHECK(std::isnan(lrn_core::pow_minus_075(-1.0f)));
  CHECK(lrn_core::pow_minus_075(1.0f) == 1.0f);
  CHECK(lrn_core::pow_minus_075(16.0f) == 0.125f);
  // Any other beta: powf itself.
  CHECK(lrn_core::neg_pow(3.7f, 0.6f) == powf(3.7f, -0.6f));
  CHECK(lrn_core::neg_pow(3.7f, 0.75f) == lrn_core::pow_minus_075(3.7f));
}

TEST_CASE("lrn: CPU forward matches the naive formula in double") {
  for (const test::LrnCase& t : test::lrn_cases()) {
    CAPTURE(t.name);
    const LrnGeom& g = t.g;
    auto x = test::randn(g.x_size(), 1, t.sigma);
    std::vector<float> y(g.x_size()), scale(g.x_size());
    std::vector<double> want_scale, want_y;
    cpu::lrn_forward(g, x.data(), y.data(), scale.data());
    naive_forward(g, x, want_scale, want_y);
    // scale: a double sum rounded once to float (<= 1 ulp = 1.2e-7 relative).
    CHECK_ALL_CLOSE(scale, want_scale, 1e-30, 1.2e-7);
    // y = x * scale^-beta: scale's rounding, the power (<= 1 ulp: sqrts or glibc's powf) and the product: <= 4 ulp.
    CHECK_ALL_CLOSE(y, want_y, 1e-30, 5e-7);
    // The nonlinearity is really exercised: some y differ from x * k^-beta by more than 1%.
    size_t visible = 0;
    for (size_t i = 0; i < x.size(); ++i) visible += std::fabs(want_scale[i] - g.k) > 0.01 * g.k;
    CHECK(visible > x.size() / 4);
  }
}

TEST_CASE("lrn: CPU backward matches the closed form written naively in double") {
  for (const test::LrnCase& t : test::lrn_cases()) {
    CAPTURE(t.name);
    const LrnGeom& g = t.g;
    const size_t hw = (size_t)g.h * g.w;
    auto x = test::randn(g.x_size(), 2, t.sigma), dy = test::randn(g.x_size(), 3);
    std::vector<float> y(g.x_size()), scale(g.x_size()), dx(g.x_size());
    cpu::lrn_forward(g, x.data(), y.data(), scale.data());
    cpu::lrn_backward(g, x.data(), y.data(), scale.data(), dy.data(), dx.data());
    const int pre = pre_of(g), post = g.size - 1 - pre;
    for (int n = 0; n < g.n; ++n)
      for (int c = 0; c < g.c; ++c)
        for (size_t p = 0; p < hw; ++p) {
          const size_t i = (n * g.c + c) * hw + p;
          // Sum over the channels j whose window i - pre .. i + post contains c.
          double acc = 0;
          for (int j = 0; j < g.c; ++j)
            if (j - pre <= c && c <= j + post) {
              const size_t jj = (n * g.c + j) * hw + p;
              acc += (double)dy[jj] * y[jj] / scale[jj];
            }
          const double a = dy[i] * std::pow((double)scale[i], -(double)g.beta);
          const double b = 2.0 * g.alpha * g.beta / g.size * x[i] * acc;
          // The two terms each carry a few ulps (powf, the final rounding); they may cancel.
          CHECK(std::fabs(dx[i] - (a - b)) <= 5e-7 * (std::fabs(a) + std::fabs(b)) + 1e-30);
        }
  }
}

TEST_CASE("lrn: finite-difference gradient in double") {
  // L(x) = <w, lrn(x)>; central difference with eps = 1% of the input's std. Truncation error is
  // ~(eps/sigma)^2 ~ 1e-4 relative; the float rounding of the ~size outputs that move is
  // ~size * 6e-8 * |y| / (2 eps) ~ 1e-5 absolute. A wrong window or factor errs by O(0.1).
  for (const test::LrnCase& t : test::lrn_cases()) {
    CAPTURE(t.name);
    const LrnGeom& g = t.g;
    auto x = test::randn(g.x_size(), 4, t.sigma), w = test::randn(g.x_size(), 5);
    std::vector<float> y(g.x_size()), scale(g.x_size()), grad(g.x_size());
    cpu::lrn_forward(g, x.data(), y.data(), scale.data());
    cpu::lrn_backward(g, x.data(), y.data(), scale.data(), w.data(), grad.data());
    auto loss = [&]() {
      cpu::lrn_forward(g, x.data(), y.data(), scale.data());
      return dot(w, y);
    };
    std::vector<test::GradVar<float>> vars{{"x", &x, grad, 0.01 * t.sigma, 1e-3, 2e-4, {}}};
    test::check_gradients<float>(loss, vars, {0, 0});
  }
}

TEST_CASE("lrn: linearised adjoint <dy, J v> == <J^T dy, v>, J v by finite differences in double") {
  for (const test::LrnCase& t : test::lrn_cases()) {
    CAPTURE(t.name);
    const LrnGeom& g = t.g;
    auto x = test::randn(g.x_size(), 6, t.sigma), v = test::randn(g.x_size(), 7), dy = test::randn(g.x_size(), 8);
    std::vector<float> y(g.x_size()), scale(g.x_size()), jtdy(g.x_size());
    cpu::lrn_forward(g, x.data(), y.data(), scale.data());
    cpu::lrn_backward(g, x.data(), y.data(), scale.data(), dy.data(), jtdy.data());
    // Step along v: x +- eps v, rounded to float; the actual step (xp - xm) is used on both sides.
    const double eps = 1e-2 * t.sigma;
    std::vector<float> xp(x.size()), xm(x.size()), yp(x.size()), ym(x.size());
    for (size_t i = 0; i < x.size(); ++i) xp[i] = (float)(x[i] + eps * v[i]), xm[i] = (float)(x[i] - eps * v[i]);
    cpu::lrn_forward(g, xp.data(), yp.data(), scale.data());
    cpu::lrn_forward(g, xm.data(), ym.data(), scale.data());
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      lhs += (double)dy[i] * ((double)yp[i] - ym[i]);
      rhs += (double)jtdy[i] * ((double)xp[i] - xm[i]);
      mag += std::fabs((double)jtdy[i] * ((double)xp[i] - xm[i]));
    }
    // Both sides are O(eps) inner products; the central difference's truncation is O((eps/sigma)^2)
    // = O(1e-4) relative (observed: a few 1e-6); a wrong window or factor errs by O(0.1).
    CHECK(std::fabs(lhs - rhs) <= 1e-4 * mag);
  }
}

TEST_CASE("lrn: the CUDA kernels' column bodies, run on the CPU, match the CPU twin exactly") {
  // lrn.cu's threads run these bodies; the same operations in the same order as the CPU twin, so
  // on the host (same powf, same square roots) every bit agrees. No GPU is needed to test the GPU's window walk.
  for (const test::LrnCase& t : test::lrn_cases()) {
    CAPTURE(t.name);
    const LrnGeom& g = t.g;
    const size_t hw = (size_t)g.h * g.w;
    auto x = test::randn(g.x_size(), 11, t.sigma), dy = test::randn(g.x_size(), 12);
    std::vector<float> y(g.x_size()), scale(g.x_size()), dx(g.x_size());
    std::vector<float> y2(g.x_size()), scale2(g.x_size()), dx2(g.x_size());
    cpu::lrn_forward(g, x.data(), y.data(), scale.data());
    cpu::lrn_backward(g, x.data(), y.data(), scale.data(), dy.data(), dx.data());
    for (size_t col = 0; col < (size_t)g.n * hw; ++col) {
      const size_t base = (col / hw) * g.c * hw + col % hw;
      lrn_core::forward_column(g, hw, x.data() + base, y2.data() + base, scale2.data() + base);
      lrn_core::backward_column(g, hw, x.data() + base, y.data() + base, scale.data() + base, dy.data() + base,
                                dx2.data() + base);
    }
    CHECK(scale2 == scale);
    CHECK(y2 == y);
    CHECK(dx2 == dx);
  }
}
