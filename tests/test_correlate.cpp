// bin/correlate's analysis: a net and a channel-permuted copy of it must correlate at 1.0 on the
// matched pairs and give back the planted permutation, on every layer.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "analysis/correlate.h"
#include "kernels/rng.h"
#include "nn/net.h"
#include "tests/check.h"

using namespace cvg;

namespace {

// Random 1x10x10 images: enough variety that no unit of a random net is constant.
class NoiseSet : public Dataset {
 public:
  explicit NoiseSet(size_t n) : n_(n) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return 5; }
  ImageShape shape() const override { return {1, 10, 10}; }
  Normalisation normalisation() const override { return {{0, 0, 0}, {1, 1, 1}}; }
  std::string describe() const override { return "noise"; }
  int32_t load(size_t i, float* out, bool, uint64_t) const override {
    for (int p = 0; p < 100; ++p) out[p] = rng_uniform(11, i, p) * 2 - 1 + 0.3f * (float)((p / 10 + i) % 3);
    return (int32_t)(i % 5);
  }

 private:
  size_t n_;
};

// No channel groups, and LRN of size 1 (a window of one channel): a permutation of channels maps
// the net to an exactly equivalent one. (A wider LRN window mixes neighbouring channels, so a
// permuted copy would not be equivalent.) fc3 has no ReLU: on noise images a ReLU there leaves some
// units dead (constant 0), which have no partner to recover.
const char* kPermNet = R"({
  "name": "perm", "input": [1, 10, 10],
  "layers": [
    {"name": "conv1", "type": "conv", "num_output": 12, "kernel_size": 3, "pad": 1, "weight_std": "msra", "bias": 0.1},
    {"name": "relu1", "type": "relu"},
    {"name": "pool1", "type": "maxpool", "kernel_size": 3, "stride": 2},
    {"name": "norm1", "type": "lrn", "local_size": 1, "alpha": 0.5, "beta": 0.75, "k": 1},
    {"name": "conv2", "type": "conv", "num_output": 16, "kernel_size": 3, "pad": 1, "weight_std": "msra", "bias": 0.1},
    {"name": "relu2", "type": "relu"},
    {"name": "fc3", "type": "fc", "num_output": 20, "weight_std": 0.03, "bias": 0.5},
    {"name": "fc4", "type": "fc", "num_output": "classes", "weight_std": 0.1},
    {"name": "loss", "type": "softmax_loss"}
  ]
})";

std::vector<int> random_permutation(int n, uint64_t seed) {
  std::vector<int> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int i = n - 1; i > 0; --i) std::swap(p[i], p[rng_bits(seed, 99, i) % (i + 1)]);
  return p;
}

// Copies `src` into `dst` with each conv/fc layer's outputs permuted: new unit j = old unit perm[j].
// The next parameter layer's inputs are permuted the same way (for an fc after a conv, whole
// channel blocks of h*w features). Returns the permutation of each layer.
std::vector<std::vector<int>> permute_into(Net& src, Net& dst, uint64_t seed) {
  std::vector<std::vector<int>> perms;
  std::vector<int> in_perm;  // permutation of the current layer's input channels (empty: identity)
  const auto& L = src.layers();
  for (size_t i = 0; i < L.size(); ++i) {
    if (!L[i]->cfg.has_params()) continue;
    Param& w = L[i]->params[0];
    Param& b = L[i]->params[1];
    const int out = w.shape[0];
    const size_t row = w.value.numel() / out;
    std::vector<int> perm = random_permutation(out, seed + i);
    std::vector<float> W = w.value.data.to_host(), B = b.value.data.to_host(), W2(W.size()), B2(out);
    const int in_ch = in_perm.empty() ? 1 : (int)in_perm.size();
    const size_t per_in = row / in_ch;  // conv: kh*kw; fc after conv: h*w; else 1 per input
    for (int j = 0; j < out; ++j) {
      B2[j] = B[perm[j]];
      for (int c = 0; c < in_ch; ++c) {
        int src_c = in_perm.empty() ? c : in_perm[c];
        std::copy_n(&W[perm[j] * row + src_c * per_in], per_in, &W2[j * row + c * per_in]);
      }
    }
    auto& dp = dst.layers()[i]->params;
    dp[0].value.data.from_host(W2);
    dp[1].value.data.from_host(B2);
    perms.push_back(perm);
    in_perm = perm;
  }
  return perms;
}

}  // namespace

TEST_CASE("correlate: a net and its channel-permuted copy correlate at 1.0 under the recovered permutation") {
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  Net a(cfg, {1, 10, 10}, 5, Device::cpu(), 32), b(cfg, {1, 10, 10}, 5, Device::cpu(), 32);
  a.init(3);
  b.init(4);  // then overwritten with a's permuted weights
  std::vector<std::vector<int>> perms = permute_into(a, b, 77);
  NoiseSet data(300);
  CorrelateOptions opt;
  opt.batch = 32;
  opt.quiet = true;
  opt.threads = 1;
  opt.mi_layers = {"conv1"};
  std::vector<LayerResult> res = correlate_nets({&a, &b}, data, opt);
  REQUIRE(res.size() == 4);
  for (size_t l = 0; l < res.size(); ++l) {
    INFO("layer ", res[l].name);
    const LayerResult& r = res[l];
    CHECK(r.moments.count == (l < 2 ? 300.0 * r.hw : 300.0));
    CHECK(r.stats.zero_variance[0].empty());
    const PairResult& p = r.pairs.at(0);
    const int c = r.moments.units[0];
    // unit j of b is unit perm[j] of a, so a's unit perm[j] must match b's j.
    std::vector<int64_t> planted(c);
    for (int j = 0; j < c; ++j) planted[perms[l][j]] = j;
    CHECK(p.bipartite.row_to_col == planted);
    CHECK(p.semi_ab == planted);
    double worst = 1;
    for (int i = 0; i < c; ++i) worst = std::min(worst, p.between[(size_t)i * c + planted[i]]);
    // The copies compute the same values up to float32 summation order (~1e-7 relative).
    CHECK(worst > 1 - 1e-5);
    CHECK(p.summary["bipartite"].get<double>() > 1 - 1e-5);
    CHECK(p.summary["mutual_best_partners"].get<int>() == c);
    CHECK(p.summary["same_partner_semi_and_bipartite"].get<double>() == 1.0);
    if (l == 0) {
      // Identical binned values: each unit's MI with its copy is its binned entropy, the largest
      // in its row, so MI recovers the permutation too.
      REQUIRE(!p.mi.empty());
      CHECK(p.mi_bipartite.row_to_col == planted);
      CHECK(p.summary["mi_agrees_with_correlation"].get<double>() == 1.0);
    }
  }
}

TEST_CASE("correlate: mismatched nets are refused with a clear message") {
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  Net a(cfg, {1, 10, 10}, 5, Device::cpu(), 4), b(cfg, {1, 12, 12}, 5, Device::cpu(), 4);
  CHECK_THROWS_WITH_AS(comparable_layers({&a, &b}, {}), "nets 1 and 2 take different input shapes", InputError);
  CHECK_THROWS_AS(comparable_layers({&a, &a}, {"pool1"}), InputError);  // not a conv/fc layer
}

TEST_CASE("correlate: GPU statistics match the CPU's") {
  if (!test::gpu_or_skip()) return;
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  NoiseSet data(200);
  CorrelateOptions opt;
  opt.batch = 32;
  opt.quiet = true;
  opt.threads = 1;
  opt.mi_layers = {"conv1"};
  std::vector<std::vector<LayerResult>> res;
  for (Device d : {Device::cpu(), Device{Device::CUDA, 0}}) {
    Net a(cfg, {1, 10, 10}, 5, d, 32), b(cfg, {1, 10, 10}, 5, d, 32);
    a.init(3), b.init(4);
    res.push_back(correlate_nets({&a, &b}, data, opt));
  }
  for (size_t l = 0; l < res[0].size(); ++l) {
    // Correlations of float32 activations whose forward passes differ by summation order (a few
    // ulps per layer): 1e-4 absolute on values in [-1, 1].
    const auto& c = res[0][l].pairs[0].between;
    const auto& g = res[1][l].pairs[0].between;
    test::record_gpu_result("correlate " + res[0][l].name, test::worst_error(g, c, 1e-4, 0));
    CHECK_ALL_CLOSE(g, c, 1e-4, 0);
  }
}
