#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/act.h"
#include "kernels/rng.h"
#include "nn/tensor.h"
#include "tests/check.h"
#include "tests/grad_check.h"

using namespace cvg;

namespace {
double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double)a[i] * b[i];
  return s;
}
}  // namespace

TEST_CASE("relu: CPU forward and backward match naive loops, in place too") {
  const size_t n = 1001;
  auto x = test::randn(n, 1), dy = test::randn(n, 2);
  x[3] = 0.0f, x[4] = -0.0f;
  std::vector<float> y(n), dx(n);
  cpu::relu_forward(n, x.data(), y.data());
  cpu::relu_backward(n, y.data(), dy.data(), dx.data());
  for (size_t i = 0; i < n; ++i) {
    CHECK(y[i] == (x[i] > 0 ? x[i] : 0.0f));
    CHECK(dx[i] == (x[i] > 0 ? dy[i] : 0.0f));  // y > 0 exactly where x > 0
  }
  auto inplace = x;
  cpu::relu_forward(n, inplace.data(), inplace.data());
  CHECK(inplace == y);
  auto dinplace = dy;
  cpu::relu_backward(n, y.data(), dinplace.data(), dinplace.data());
  CHECK(dinplace == dx);
}

TEST_CASE("relu: gradient matches central differences in double, skipping the kink window") {
  // L = <w, relu(x)> is linear in each x_i away from 0, so the central difference is exact up to
  // double rounding (~1e-16 |L| / h, under atol 1e-9); relu_backward copies w or writes 0, so the
  // gradient is exact too (1e-6 relative is margin). Steps that cross 0 are skipped.
  const size_t n = 500;
  auto x = test::randn(n, 3), w = test::randn(n, 4);
  std::vector<float> y(n), grad(n);
  cpu::relu_forward(n, x.data(), y.data());
  cpu::relu_backward(n, y.data(), w.data(), grad.data());
  const std::vector<float> x0 = x;
  auto loss = [&]() {
    cpu::relu_forward(n, x.data(), y.data());
    for (size_t i = 0; i < n; ++i)
      if ((x[i] > 0) != (x0[i] > 0)) return (double)NAN;  // crossed the kink
    return dot(w, y);
  };
  std::vector<test::GradVar<float>> vars{{"x", &x, grad, 1e-3, 1e-6, 1e-9, {}}};
  test::check_gradients<float>(loss, vars, {0, 0.1});
}

TEST_CASE("dropout: the mask is rng_keep's, kept values are scaled by 1/(1-p)") {
  const size_t n = 10007;
  const float p = 0.5f;
  const uint64_t seed = 42, stream = rng_stream("fc6", 7);
  auto x = test::randn(n, 5);
  std::vector<float> y(n);
  cpu::dropout_forward(n, p, seed, stream, 0, x.data(), y.data());
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool keep = rng_keep(seed, stream, i, p);
    kept += keep;
    CHECK(y[i] == (keep ? x[i] * (1.0f / (1.0f - p)) : 0.0f));
    if (keep) CHECK(std::fabs(y[i] - x[i] / (1.0 - p)) <= 1.2e-7 * std::fabs(y[i]));  // inverted scaling
  }
  // binomial sd sqrt(n p q) = 50: allow 5 sigma around n (1 - p).
  CHECK(std::fabs((double)kept - n * (1 - p)) < 250);

  // The mask depends on the element's index only: a prefix of a longer tensor drops the same.
  std::vector<float> x2 = test::randn(3 * n, 5), y2(3 * n);
  cpu::dropout_forward(3 * n, p, seed, stream, 0, x2.data(), y2.data());
  CHECK(std::vector<float>(y2.begin(), y2.begin() + n) == y);
  // A slice at an offset (an MPI rank's part of the batch) gets that part of the whole mask.
  std::vector<float> y_mid(n);
  cpu::dropout_forward(n, p, seed, stream, n, x2.data() + n, y_mid.data());
  CHECK(y_mid == std::vector<float>(y2.begin() + n, y2.begin() + 2 * n));
  // Another stream (another layer or iteration) draws another mask.
  std::vector<float> y3(n);
  cpu::dropout_forward(n, p, seed, stream + 1, 0, x.data(), y3.data());
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) differ += (y3[i] == 0) != (y[i] == 0);
  CHECK(differ > n / 4);
}

TEST_CASE("dropout: p = 0 is the identity, p = 1 drops everything, in place works") {
  const size_t n = 999;
  auto x = test::randn(n, 6);
  std::vector<float> y(n);
  cpu::dropout_forward(n, 0.0f, 1, 2, 0, x.data(), y.data());
  CHECK(y == x);
  cpu::dropout_backward(n, 0.0f, 1, 2, 0, x.data(), y.data());
  CHECK(y == x);
  cpu::dropout_forward(n, 1.0f, 1, 2, 0, x.data(), y.data());
  CHECK(y == std::vector<float>(n, 0.0f));
  std::vector<float> want(n), inplace = x;
  cpu::dropout_forward(n, 0.3f, 1, 2, 0, x.data(), want.data());
  cpu::dropout_forward(n, 0.3f, 1, 2, 0, inplace.data(), inplace.data());
  CHECK(inplace == want);
}

TEST_CASE("dropout: backward uses forward's mask (adjoint identity <dy, D x> == <D^T dy, x>)") {
  const size_t n = 4099;
  const float p = 0.3f;
  auto x = test::randn(n, 7), dy = test::randn(n, 8);
  std::vector<float> dx_(n), dxb(n);
  cpu::dropout_forward(n, p, 9, 10, 0, x.data(), dx_.data());
  cpu::dropout_backward(n, p, 9, 10, 0, dy.data(), dxb.data());
  // D is diagonal: each side sums the same products x_i * dy_i * scale (one float rounding each
  // side of 1.2e-7 relative per term) over the kept elements.
  double mag = 0;
  for (size_t i = 0; i < n; ++i) mag += std::fabs((double)x[i] * dy[i]) / (1 - p);
  CHECK(std::fabs(dot(dy, dx_) - dot(dxb, x)) <= 3e-7 * mag);
  for (size_t i = 0; i < n; ++i) CHECK((dx_[i] == 0) == (dxb[i] == 0));  // same elements dropped
}
