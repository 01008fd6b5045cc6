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
