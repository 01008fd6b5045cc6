#include <doctest/doctest.h>

#include <cmath>

#include "kernels/sgd.h"
#include "nn/tensor.h"
#include "tests/bounds.h"
#include "tests/check.h"

using namespace cvg;

TEST_CASE("sgd: CPU twin matches Caffe's update written as a naive loop") {
  const size_t n = 1000;
  auto w = test::randn(n, 1), v = test::randn(n, 2), g = test::randn(n, 3);
  std::vector<double> wd(w.begin(), w.end()), vd(v.begin(), v.end());
  const float lr = 0.01f, mom = 0.9f, decay = 5e-4f;
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < n; ++i) {
      vd[i] = mom * vd[i] + lr * (g[i] + decay * wd[i]);
      wd[i] -= vd[i];
    }
    cpu::sgd_update(n, w.data(), v.data(), g.data(), lr, mom, decay);
  }
  // float32 vs double over 3 steps of O(1) values: a few ulps of 1.
  CHECK_ALL_CLOSE(w, wd, 1e-6, 1e-5);
  CHECK_ALL_CLOSE(v, vd, 1e-6, 1e-5);
}

TEST_CASE("sgd: zero gradient and zero decay leave momentum decaying geometrically") {
  std::vector<float> w{1, 2}, v{1, -1}, g{0, 0};
  cpu::sgd_update(2, w.data(), v.data(), g.data(), 0.1f, 0.5f, 0.0f);
  CHECK(v[0] == 0.5f);
  CHECK(w[0] == 0.5f);
  CHECK(w[1] == 2.5f);
}

TEST_CASE("sgd: GPU matches CPU, weights and momentum, over steps that carry the momentum") {
  if (!test::gpu_or_skip()) return;
#ifdef CONVERGENT_CUDA
  const size_t n = 100003;
  auto w = test::randn(n, 1), v = test::randn(n, 2), g = test::randn(n, 3);
  const float lr = 0.01f, mom = 0.9f, decay = 5e-4f;
  Device gpu{Device::CUDA, 0};
  Array<float> dw(gpu, n), dv(gpu, n), dg(gpu, n);
  dw.from_host(w), dv.from_host(v), dg.from_host(g);
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    // Bounds from the inputs of this step (both twins start it from the same w and v: the GPU's
    // are reset to the CPU's): v' = mom v + lr (g + wd w) is 4 roundings (5 without FMA) of terms
    // of size |mom v|, |lr g|, |lr wd w|, so each twin is within gamma(5) * absv of the exact v';
    // w' = w - v' adds one rounding of |w| + |v'|.
    std::vector<double> absv(n), absw(n);
    for (size_t i = 0; i < n; ++i) {
      absv[i] = std::fabs(mom * v[i]) + lr * (std::fabs(g[i]) + decay * std::fabs(w[i]));
      absw[i] = std::fabs(w[i]) + absv[i];
    }
    cpu::sgd_update(n, w.data(), v.data(), g.data(), lr, mom, decay);
    cuda::sgd_update(n, dw.data(), dv.data(), dg.data(), lr, mom, decay);
    const double f = 2 * test::gamma_n(5);
    test::record_gpu_result("sgd_update v step " + std::to_string(step),
                            test::check_bound("sgd v", dv.to_host(), v, absv, f));
    test::record_gpu_result("sgd_update w step " + std::to_string(step),
                            test::check_bound("sgd w", dw.to_host(), w, absw, f + 2 * test::gamma_n(1)));
    dw.from_host(w), dv.from_host(v);
  }
#endif
}
