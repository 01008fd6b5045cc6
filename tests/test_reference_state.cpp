// The engine against a committed reference state (llm.c's idea): tests/data/reference_state/, made
// once by bench/reference_state.py from the PyTorch rebuild of a tiny net run in float64. Our float32
// initialisation, forward, mean loss, gradients and two SGD steps with momentum must land within
// rounding bounds of it. The bounds (first order, Higham 3.1 as in tests/bounds.h):
//  - each float32 sum of N terms is within gamma(N) of the sum of |terms|, and ReLU, max pooling and
//    (with factor 2 for its small off-diagonal terms, 2 alpha beta / size x^2 << 1) LRN pass errors
//    on without amplifying them, so the logits are within 2 gamma(N_f) A of the exact ones, where A
//    is the "absolute net"'s logits (|weights|, |input|, LRN as the identity, ReLU and max pooling
//    on the real net's branches: it dominates every path) and N_f the forward's rounding steps;
//  - the softmax turns a logit error e into a relative error <= 2e of dL/dlogits, so each gradient is
//    within (2 gamma(N_f + N_b) + 2 max e) G of the exact one, with G the absolute net's gradient of
//    <|dL/dlogits|, logits> and N_b the backward's steps;
//  - the script keeps every ReLU input and max-pool runner-up at least 4x that bound from its kink,
//    so float32 takes the same branches.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/io.h"
#include "base/npy.h"
#include "nn/config.h"
#include "nn/net.h"
#include "tests/bounds.h"
#include "tests/check.h"

using namespace cvg;

namespace {

const std::string kDir = "tests/data/reference_state/";

std::vector<double> load(const std::string& name) { return read_npy(kDir + name).to_double(); }

// The net's parameters (or their gradients, or momenta) in params() order, flattened.
enum class What { Value, Grad, Momentum };
std::vector<double> flat(Net& net, What what) {
  std::vector<double> out;
  for (Param* p : net.params()) {
    const Tensor& t = what == What::Value ? p->value : what == What::Grad ? p->grad : p->momentum;
    for (float v : t.data.to_host()) out.push_back(v);
  }
  return out;
}
std::vector<double> per_param(Net& net, float Param::*field) {
  std::vector<double> out;
  for (Param* p : net.params()) out.insert(out.end(), p->value.numel(), p->*field);
  return out;
}

}  // namespace

TEST_CASE("reference state: init, forward, loss, gradients and two SGD steps match the float64 PyTorch rebuild") {
  const std::vector<char> meta_bytes = read_file(kDir + "meta.json");
  const nlohmann::json meta = nlohmann::json::parse(meta_bytes.begin(), meta_bytes.end());
  const int batch = meta["batch"], classes = meta["classes"];
  Net net(load_net_config(kDir + "net.json"), meta["input"].get<std::vector<int>>(), classes, Device::cpu(), batch);
  net.init(meta["seed"].get<uint64_t>());
  {
    std::vector<std::string> names;
    for (Param* p : net.params()) names.push_back(p->name);
    REQUIRE(names == meta["params"].get<std::vector<std::string>>());
  }

  // Initialisation: our draws, re-implemented in Python with the same double operations. Only the
  // libm's last bit may differ, which moves the float rounding by at most one ulp (2^-23 relative).
  const std::vector<double> w0 = flat(net, What::Value), ref_w0 = load("params.npy");
  test::check_bound("initial parameters", w0, ref_w0, test::abs_of(ref_w0), std::ldexp(1.0, -23));

  const std::vector<float> x = read_npy(kDir + "x.npy").to_float();
  std::vector<int32_t> labels;
  for (double l : load("labels.npy")) labels.push_back((int32_t)l);
  net.set_batch(x.data(), labels.data(), batch);
  net.forward(true, 0);

  // Logits.
  const double nf = meta["forward_sum_length"], nb = meta["backward_sum_length"];
  const auto logits_t = net.output(net.layer_index(meta["logits_layer"].get<std::string>())).data.to_host();
  const std::vector<double> logits(logits_t.begin(), logits_t.begin() + (size_t)batch * classes);
  const std::vector<double> ref_logits = load("logits.npy"), abs_logits = load("abs_logits.npy");
  test::check_bound("logits", logits, ref_logits, abs_logits, 2 * test::gamma_n(nf));
  double max_e = 0;  // the largest logit error the bound allows
  for (double a : abs_logits) max_e = std::max(max_e, 2 * test::gamma_n(nf) * a);

  // Mean loss: logsumexp(z) - z_label moves by at most 2 max e; its own float steps (the sum over
  // classes, exp, log) round within gamma(classes + 4) of |loss| + max |z| per sample.
  const Net::Metrics m = net.metrics();
  const double loss = m.loss_sum / m.n, ref_loss = load("loss.npy").at(0);
  double max_z = 0;
  for (double z : ref_logits) max_z = std::max(max_z, std::fabs(z));
  const double loss_bound = 2 * max_e + test::gamma_n(classes + 4) * (std::fabs(ref_loss) + max_z);
  INFO("loss ", loss, " vs ", ref_loss, ", bound ", loss_bound);
  CHECK(std::fabs(loss - ref_loss) <= loss_bound);

  // Gradients of the mean loss.
  net.backward(0);
  const std::vector<double> g = flat(net, What::Grad), ref_g = load("grads.npy"), abs_g = load("abs_grads.npy");
  const double gf = 2 * test::gamma_n(nf + nb) + 2 * max_e;
  test::check_bound("gradients", g, ref_g, abs_g, gf);
  // The bound is not vacuous: in sum it is under a tenth of the gradients (about 4% here), while a
  // wrong, missing or misrouted term moves a gradient by about its own size.
  double gsum = 0, bsum = 0;
  for (size_t i = 0; i < g.size(); ++i) gsum += std::fabs(ref_g[i]), bsum += gf * abs_g[i];
  CHECK(bsum < 0.1 * gsum);

  // Two SGD steps with the same gradients: v = momentum v + lr' (g + wd' w); w -= v, with the
  // per-parameter multipliers (biases: lr x2, no decay). Each step's float operations round at most
  // 4 times, and lr, momentum, wd are floats here (one more rounding each): gamma(7) of the terms.
  const float lr = meta["lr"], mom = meta["momentum"], wd = meta["weight_decay"];
  const std::vector<double> lrm = per_param(net, &Param::lr_mult), wdm = per_param(net, &Param::decay_mult);
  const size_t P = g.size();
  std::vector<double> bg(P), bv(P, 0.0), bw(P, 0.0);  // bounds on |ours - reference| so far
  for (size_t i = 0; i < P; ++i) bg[i] = gf * abs_g[i];
  std::vector<double> w = ref_w0, v(P, 0.0);
  for (int step = 1; step <= 2; ++step) {
    CAPTURE(step);
    net.sgd_step(lr, mom, wd);
    const std::vector<double> ref_v = load("v" + std::to_string(step) + ".npy"),
                              ref_w = load("w" + std::to_string(step) + ".npy");
    std::vector<double> bv_next(P), bw_next(P);
    for (size_t i = 0; i < P; ++i) {
      const double l = (double)lr * lrm[i], d = (double)wd * wdm[i];
      bv_next[i] = mom * bv[i] + l * (bg[i] + d * bw[i]) +
                   test::gamma_n(7) * (mom * std::fabs(v[i]) + l * (std::fabs(ref_g[i]) + d * std::fabs(w[i])));
      bw_next[i] = bw[i] + bv_next[i] + test::gamma_n(1) * (std::fabs(w[i]) + std::fabs(ref_v[i]));
    }
    test::check_bound("momentum", flat(net, What::Momentum), ref_v, bv_next, 1.0);
    test::check_bound("parameters", flat(net, What::Value), ref_w, bw_next, 1.0);
    bv = bv_next, bw = bw_next, v = ref_v, w = ref_w;
  }
}
