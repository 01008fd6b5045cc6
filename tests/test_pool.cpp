#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/pool.h"
#include "kernels/pool_core.h"
#include "nn/tensor.h"
#include "tests/check.h"
#include "tests/grad_check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

// Naive max pool in the padded frame: window (oh, ow) spans rows oh*s - pad .. oh*s - pad + k - 1;
// out-of-image positions are skipped; the first maximum in row-major order wins.
void naive_pool(const PoolGeom& g, const std::vector<float>& x, std::vector<float>& y, std::vector<int32_t>& arg) {
  const int OH = g.out_h(), OW = g.out_w();
  y.assign(g.y_size(), 0.0f), arg.assign(g.y_size(), -1);
  for (int p = 0; p < g.n * g.c; ++p)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        const size_t o = ((size_t)p * OH + oh) * OW + ow;
        for (int kh = 0; kh < g.kernel; ++kh)
          for (int kw = 0; kw < g.kernel; ++kw) {
            const int ih = oh * g.stride - g.pad + kh, iw = ow * g.stride - g.pad + kw;
            if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
            const float v = x[(size_t)p * g.h * g.w + ih * g.w + iw];
            if (arg[o] < 0 || v > y[o]) y[o] = v, arg[o] = ih * g.w + iw;
          }
      }
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double)a[i] * b[i];
  return s;
}

// Integer-valued data in {0, 1, 2, 3}: most windows hold tied maxima, exercising the tie rule.

}  // namespace

TEST_CASE("pool: output sizes follow Caffe's ceil rule") {
  CHECK(PoolGeom::out_dim(55, 3, 2, 0) == 27);
  CHECK(PoolGeom::out_dim(27, 3, 2, 0) == 13);
  CHECK(PoolGeom::out_dim(13, 3, 2, 0) == 6);
  CHECK(PoolGeom::out_dim(6, 3, 2, 0) == 3);  // floor would give 2
  CHECK(PoolGeom::out_dim(5, 2, 2, 1) == 3);  // ceil gives 4, but the 4th window starts in the padding
  // Stride > kernel without padding: ceil gives 3 and 2, but the last window would start past the
  // image (at 6 of 5, at 3 of 3), where Caffe outputs -FLT_MAX; PyTorch's ceil mode drops it too.
  CHECK(PoolGeom::out_dim(5, 1, 3, 0) == 2);
  CHECK(PoolGeom::out_dim(3, 2, 3, 0) == 1);
}

TEST_CASE("pool: every window of every valid geometry holds an input; others are refused") {
  for (int in = 1; in <= 12; ++in)
    for (int k = 1; k <= 5; ++k)
      for (int s = 1; s <= 6; ++s)
        for (int pad = 0; pad < k; ++pad) {
          if (in + 2 * pad < k) continue;  // the layer refuses an input smaller than its window
          const int out = PoolGeom::out_dim(in, k, s, pad);
          REQUIRE(out >= 1);
          for (int o = 0; o < out; ++o) {
            const int start = o * s - pad;
            INFO("in ", in, " k ", k, " s ", s, " pad ", pad, " window ", o);
            CHECK(std::max(start, 0) < std::min(start + k, in));
          }
        }
  std::vector<float> x(16), y(16);
  std::vector<int32_t> arg(16);
  CHECK_THROWS_AS(cpu::maxpool_forward(test::pool_geom(1, 1, 4, 4, 2, 2, 2), x.data(), y.data(), arg.data()), std::logic_error);
  CHECK_THROWS_AS(cpu::maxpool_forward(test::pool_geom(1, 1, 4, 4, 2, 0, 0), x.data(), y.data(), arg.data()), std::logic_error);
}

TEST_CASE("pool: CPU forward matches a naive loop, switches included") {
  for (const PoolGeom& g : test::pool_geometries()) {
    INFO("geometry ", g.h, "x", g.w, " k", g.kernel, " s", g.stride, " pad ", g.pad);
    for (int data = 0; data < 2; ++data) {
      auto x = data == 0 ? test::randn(g.x_size(), 1) : test::tie_heavy(g.x_size(), 2);
      std::vector<float> y(g.y_size()), want_y;
      std::vector<int32_t> arg(g.y_size()), want_arg;
      cpu::maxpool_forward(g, x.data(), y.data(), arg.data());
      naive_pool(g, x, want_y, want_arg);
      CHECK(y == want_y);  // pooling selects, so equality is exact
      CHECK(arg == want_arg);
    }
  }
}

TEST_CASE("pool: the first maximum in row-major order wins a tie") {
  PoolGeom g = test::pool_geom(1, 1, 3, 3, 3, 1, 0);
  std::vector<float> x{1, 5, 2, 5, 5, 0, 3, 5, 4};
  float y;
  int32_t arg;
  cpu::maxpool_forward(g, x.data(), &y, &arg);
  CHECK(y == 5.0f);
  CHECK(arg == 1);
}

TEST_CASE("pool: CPU backward matches a naive scatter") {
  for (const PoolGeom& g : test::pool_geometries()) {
    INFO("geometry ", g.h, "x", g.w, " k", g.kernel, " s", g.stride, " pad ", g.pad);
    auto x = test::randn(g.x_size(), 4), dy = test::randn(g.y_size(), 5);
    std::vector<float> y(g.y_size()), dx(g.x_size(), NAN);  // NaN: backward must overwrite every dx
    std::vector<int32_t> arg(g.y_size());
    cpu::maxpool_forward(g, x.data(), y.data(), arg.data());
    cpu::maxpool_backward(g, dy.data(), arg.data(), dx.data());
    std::vector<double> want(g.x_size(), 0.0);
    const size_t oplane = (size_t)g.out_h() * g.out_w(), iplane = (size_t)g.h * g.w;
    for (size_t o = 0; o < g.y_size(); ++o)
      if (arg[o] >= 0) want[(o / oplane) * iplane + arg[o]] += dy[o];
    // At most ceil(k/s)^2 = 4 windows share an input here: float sums of <= 4 O(1) terms.
    CHECK_ALL_CLOSE(dx, want, 1e-6, 1e-6);
  }
}

TEST_CASE("pool: adjoint identity <dy, P x'> == <P^T dy, x'> with the switches fixed") {
  // With its switches fixed, max pooling is the linear gather P x'[o] = x'[argmax[o]].
  for (const PoolGeom& g : test::pool_geometries()) {
    auto x = test::randn(g.x_size(), 6), x2 = test::randn(g.x_size(), 7), dy = test::randn(g.y_size(), 8);
    std::vector<float> y(g.y_size()), px2(g.y_size()), dx(g.x_size());
    std::vector<int32_t> arg(g.y_size());
    cpu::maxpool_forward(g, x.data(), y.data(), arg.data());
    const size_t oplane = (size_t)g.out_h() * g.out_w(), iplane = (size_t)g.h * g.w;
    for (size_t o = 0; o < g.y_size(); ++o) px2[o] = arg[o] < 0 ? 0.0f : x2[(o / oplane) * iplane + arg[o]];
    cpu::maxpool_backward(g, dy.data(), arg.data(), dx.data());
    const double lhs = dot(dy, px2), rhs = dot(dx, x2);
    // dx rounds sums of <= 4 terms in float: 1e-6 of the sum of |terms| bounds the gap.
    double mag = 0;
    for (size_t o = 0; o < g.y_size(); ++o) mag += std::fabs((double)dy[o] * px2[o]);
    CHECK(std::fabs(lhs - rhs) <= 1e-6 * mag);
  }
}

TEST_CASE("pool: finite-difference gradient in double, skipping inputs near a tie") {
  // L(x) = <w, maxpool(x)>. Away from ties it is linear in each input, so the central difference is
  // exact up to double rounding; an input whose +-eps perturbation flips any switch sits in the kink
  // window and is skipped (and there must be few of those).
  for (const PoolGeom& g :
       {test::pool_geom(1, 2, 13, 13, 3, 2, 0), test::pool_geom(2, 2, 7, 9, 3, 2, 1), test::pool_geom(1, 1, 8, 8, 4, 3, 2)}) {
    auto x = test::randn(g.x_size(), 9), w = test::randn(g.y_size(), 10);
    std::vector<float> y(g.y_size()), grad(g.x_size());
    std::vector<int32_t> arg(g.y_size()), arg2(g.y_size());
    cpu::maxpool_forward(g, x.data(), y.data(), arg.data());
    cpu::maxpool_backward(g, w.data(), arg.data(), grad.data());
    // A step that flips any switch crossed a kink: skipped, and fewer than 1 in 20 may be.
    auto loss = [&]() {
      cpu::maxpool_forward(g, x.data(), y.data(), arg2.data());
      return arg2 != arg ? (double)NAN : dot(w, y);
    };
    std::vector<test::GradVar<float>> vars{{"x", &x, grad, 1e-3, 1e-6, 1e-9, {}}};
    test::check_gradients<float>(loss, vars, {0, 0.05});
  }
}

TEST_CASE("pool: the gather's covering-window ranges are exactly the windows that cover each input") {
  for (const PoolGeom& g : test::pool_geometries()) {
    const int out_n = g.out_h();
    for (int in = 0; in < g.h; ++in) {
      int lo, hi;
      pool_core::covering(in, g.kernel, g.stride, g.pad, out_n, lo, hi);
      for (int o = 0; o < out_n; ++o) {
        const bool covers = o * g.stride - g.pad <= in && in < o * g.stride - g.pad + g.kernel;
        CHECK(covers == (lo <= o && o < hi));
      }
    }
  }
}

TEST_CASE("pool: the CUDA kernels' thread bodies, run on the CPU, match the CPU twin exactly") {
  // No GPU is needed to test the GPU's index math and tie rule: pool.cu's threads run these bodies.
  for (const PoolGeom& g : test::pool_geometries()) {
    INFO("geometry ", g.h, "x", g.w, " k", g.kernel, " s", g.stride, " pad ", g.pad);
    for (int data = 0; data < 2; ++data) {
      auto x = data == 0 ? test::randn(g.x_size(), 21) : test::tie_heavy(g.x_size(), 22);
      auto dy = test::randn(g.y_size(), 23);
      std::vector<float> y(g.y_size()), y2(g.y_size()), dx(g.x_size()), dx2(g.x_size());
      std::vector<int32_t> arg(g.y_size()), arg2(g.y_size());
      cpu::maxpool_forward(g, x.data(), y.data(), arg.data());
      cpu::maxpool_backward(g, dy.data(), arg.data(), dx.data());
      for (size_t i = 0; i < g.y_size(); ++i)
        pool_core::forward_one(g, g.out_h(), g.out_w(), x.data(), i, y2.data(), arg2.data());
      for (size_t i = 0; i < g.x_size(); ++i) dx2[i] = pool_core::backward_one(g, g.out_h(), g.out_w(), dy.data(), arg.data(), i);
      CHECK(arg2 == arg);
      CHECK(y2 == y);
      CHECK(dx2 == dx);  // the gather adds in the scatter's order: the same float sums
    }
  }
}

TEST_CASE("pool: with NaN inputs the CPU twin keeps the GPU body's single row-major scan and its switches") {
  // A NaN first in a window keeps the window NaN; one further in never replaces, and must not hide
  // the later values of its row (a scan by rows first would, the GPU's single scan does not).
  for (const PoolGeom& g : test::pool_geometries()) {
    INFO("geometry ", g.h, "x", g.w, " k", g.kernel, " s", g.stride, " pad ", g.pad);
    auto x = test::tie_heavy(g.x_size(), 24);
    for (size_t i = 0; i < x.size(); i += 7) x[i] = NAN;
    std::vector<float> y(g.y_size()), y2(g.y_size());
    std::vector<int32_t> arg(g.y_size()), arg2(g.y_size());
    cpu::maxpool_forward(g, x.data(), y.data(), arg.data());
    for (size_t i = 0; i < g.y_size(); ++i) pool_core::forward_one(g, g.out_h(), g.out_w(), x.data(), i, y2.data(), arg2.data());
    CHECK(arg2 == arg);
    CHECK(std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)) == 0);  // NaN != NaN: compare bits
  }
}
