#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/loss.h"
#include "nn/tensor.h"
#include "tests/check.h"
#include "tests/grad_check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

// Softmax and -log p[label] in double, max-subtracted.
void naive_softmax(int n, int c, const std::vector<float>& x, const std::vector<int32_t>& label, std::vector<double>& prob,
                   std::vector<double>& loss) {
  prob.assign((size_t)n * c, 0), loss.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    double m = x[(size_t)i * c];
    for (int j = 0; j < c; ++j) m = std::max(m, (double)x[(size_t)i * c + j]);
    double s = 0;
    for (int j = 0; j < c; ++j) s += std::exp(x[(size_t)i * c + j] - m);
    for (int j = 0; j < c; ++j) prob[(size_t)i * c + j] = std::exp(x[(size_t)i * c + j] - m) / s;
    loss[i] = std::log(s) - (x[(size_t)i * c + label[i]] - m);
  }
}

}  // namespace

TEST_CASE("loss: CPU softmax cross-entropy matches a naive double softmax") {
  for (int c : {10, 1000}) {
    CAPTURE(c);
    const int n = 13;
    auto x = test::randn((size_t)n * c, 1, 3.0f);
    auto label = test::labels_for(n, c, 2);
    std::vector<float> prob((size_t)n * c), loss(n);
    std::vector<double> want_prob, want_loss;
    cpu::softmax_xent_forward(n, c, x.data(), label.data(), prob.data(), loss.data());
    naive_softmax(n, c, x, label, want_prob, want_loss);
    // float x - m is rounded (<= 6e-8 * |x| ~ 1e-6 for |x| <= 15), then expf and the division
    // add a few ulps: relative 1e-5 on every probability, absolute 1e-5 on losses of O(1-10).
    CHECK_ALL_CLOSE(prob, want_prob, 1e-30, 1e-5);
    CHECK_ALL_CLOSE(loss, want_loss, 1e-5, 1e-6);
  }
}

TEST_CASE("loss: huge logits neither overflow nor lose the loss of an underflowed class") {
  // Unsubtracted, expf(1e4) or expf(1e38) is inf and the softmax NaN.
  const int n = 3, c = 4;
  std::vector<float> x{1e4f,  1e4f - 1, 1e4f - 2, -1e4f,   // moderate spread at a huge offset
                       1e38f, -1e38f,   0.0f,     1e38f,   // true class ~2e38 below the max
                       3e38f, 3e38f,    3e38f,    3e38f};  // all equal near FLT_MAX: uniform
  std::vector<int32_t> label{0, 1, 2};
  std::vector<float> prob(n * c), loss(n);
  std::vector<double> want_prob, want_loss;
  cpu::softmax_xent_forward(n, c, x.data(), label.data(), prob.data(), loss.data());
  naive_softmax(n, c, x, label, want_prob, want_loss);
  for (float v : prob) CHECK(std::isfinite(v));
  for (float v : loss) CHECK(std::isfinite(v));
  CHECK_ALL_CLOSE(prob, want_prob, 1e-30, 1e-6);
  CHECK_ALL_CLOSE(loss, want_loss, 1e-6, 1e-6);
  CHECK(loss[1] == doctest::Approx(2e38).epsilon(1e-6));  // p_label underflows to 0; the loss does not
  CHECK(loss[2] == doctest::Approx(std::log(4.0)).epsilon(1e-6));
}

TEST_CASE("loss: backward is scale * (prob - onehot)") {
  const int n = 5, c = 7;
  auto prob = test::randu((size_t)n * c, 3, 0.0f, 1.0f);
  auto label = test::labels_for(n, c, 4);
  std::vector<float> d((size_t)n * c);
  cpu::softmax_xent_backward(n, c, prob.data(), label.data(), 0.25f, d.data());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < c; ++j) CHECK(d[i * c + j] == 0.25f * (prob[i * c + j] - (j == label[i] ? 1.0f : 0.0f)));
}

TEST_CASE("loss: finite-difference gradient of the mean loss in double") {
  // L = (1/n) sum_i loss_i; dL/dlogits = (1/n)(prob - onehot). Central difference, eps = 1e-2:
  // truncation ~eps^2/6 * |L'''| ~ 2e-5; float rounding of the one loss that moves
  // ~2.4e-7 * loss / (2 eps * n) ~ 1e-5. A wrong sign or missing one-hot errs by O(1/n).
  const int n = 4, c = 7;
  auto x = test::randn((size_t)n * c, 5, 2.0f);
  auto label = test::labels_for(n, c, 6);
  std::vector<float> prob((size_t)n * c), loss(n), grad((size_t)n * c);
  cpu::softmax_xent_forward(n, c, x.data(), label.data(), prob.data(), loss.data());
  cpu::softmax_xent_backward(n, c, prob.data(), label.data(), 1.0f / n, grad.data());
  auto mean_loss = [&] {
    cpu::softmax_xent_forward(n, c, x.data(), label.data(), prob.data(), loss.data());
    double s = 0;
    for (float v : loss) s += v;
    return s / n;
  };
  std::vector<test::GradVar<float>> vars{{"logits", &x, grad, 1e-2, 1e-3, 1e-4, {}}};
  test::check_gradients<float>(mean_loss, vars, {0, 0});
}

TEST_CASE("loss: class_rank counts strictly higher logits; ties do not count") {
  const int n = 5, c = 4;
  std::vector<float> x{1, 2, 2, 3,   // label 1: only the 3 is higher (the other 2 ties) -> 1
                       5, 5, 5, 5,   // all tied -> 0
                       0, 1, 2, 3,   // label 0, the lowest -> 3
                       9, 1, 2, 3,   // label 0, the highest -> 0
                       2, 2, 1, 2};  // label 2 below three tied 2s -> 3
  std::vector<int32_t> label{1, 2, 0, 0, 2}, rank(n);
  cpu::class_rank(n, c, x.data(), label.data(), rank.data());
  CHECK(rank == std::vector<int32_t>{1, 0, 3, 0, 3});

  // And against a naive count on random rows with many ties (integer logits).
  const int m = 50, k = 20;
  auto y = test::randu((size_t)m * k, 7, 0.0f, 5.0f);
  for (float& v : y) v = std::floor(v);
  auto l = test::labels_for(m, k, 8);
  std::vector<int32_t> r(m);
  cpu::class_rank(m, k, y.data(), l.data(), r.data());
  for (int i = 0; i < m; ++i) {
    int want = 0;
    for (int j = 0; j < k; ++j) want += y[i * k + j] > y[i * k + l[i]];
    CHECK(r[i] == want);
  }
}

TEST_CASE("loss: a label outside [0, c) is a clear error on the CPU") {
  std::vector<float> x(6, 0.0f), prob(6), loss(2), d(6);
  std::vector<int32_t> bad{1, 3}, rank(2);
  CHECK_THROWS_WITH_AS(cpu::softmax_xent_forward(2, 3, x.data(), bad.data(), prob.data(), loss.data()),
                       "softmax_xent_forward: label 3 of row 1 is outside [0, 3)", InputError);
  CHECK_THROWS_WITH_AS(cpu::softmax_xent_backward(2, 3, prob.data(), bad.data(), 1.0f, d.data()),
                       "softmax_xent_backward: label 3 of row 1 is outside [0, 3)", InputError);
  bad[1] = -1;
  CHECK_THROWS_WITH_AS(cpu::class_rank(2, 3, x.data(), bad.data(), rank.data()),
                       "class_rank: label -1 of row 1 is outside [0, 3)", InputError);
}

TEST_CASE("loss: a bad label on the GPU gives a NaN loss and rank -1, and no out-of-bounds read") {
  if (!test::gpu_or_skip()) return;
#ifdef CONVERGENT_CUDA
  // The CUDA twin cannot throw (the CPU twin's answer, tested above); the table in
  // test_backend_ops.cpp compares the twins on valid labels.
  Device gpu{Device::CUDA, 0};
  std::vector<float> x(6, 0.0f);
  std::vector<int32_t> bad{1, 3};
  Array<float> dx(gpu, 6), dprob(gpu, 6), dloss(gpu, 2);
  Array<int32_t> dlabel(gpu, 2), drank(gpu, 2);
  dx.from_host(x), dlabel.from_host(bad);
  cuda::softmax_xent_forward(2, 3, dx.data(), dlabel.data(), dprob.data(), dloss.data());
  cuda::class_rank(2, 3, dx.data(), dlabel.data(), drank.data());
  auto gloss = dloss.to_host();
  auto grank = drank.to_host();
  CHECK(gloss[0] == doctest::Approx(std::log(3.0)));
  CHECK(std::isnan(gloss[1]));
  CHECK(grank == std::vector<int32_t>{0, -1});
#endif
}
