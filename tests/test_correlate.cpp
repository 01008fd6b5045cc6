// bin/correlate's analysis: a net and a channel-permuted copy of it must correlate at 1.0 on the
// matched pairs and give back the planted permutation, on every layer.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <unistd.h>

#include "analysis/align/pair.h"
#include "analysis/align/scores.h"
#include "analysis/stats/bootstrap.h"
#include "analysis/stats/correlate.h"
#include "analysis/stats/correlate_io.h"
#include "analysis/match/matched_pairs.h"
#include "base/npy.h"
#include "nn/checkpoint.h"
#include "base/io.h"
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

// Makes conv1's unit u of `net` constant 0 after its ReLU: zero weights and a negative bias.
static void kill_conv1_unit(Net& net, int u) {
  Param& w = net.layers()[0]->params[0];
  Param& b = net.layers()[0]->params[1];
  std::vector<float> W = w.value.data.to_host(), B = b.value.data.to_host();
  const size_t row = W.size() / B.size();
  std::fill_n(&W[u * row], row, 0.0f);
  B[u] = -1.0f;
  w.value.data.from_host(W);
  b.value.data.from_host(B);
}

TEST_CASE("correlate: dead units are left out of the MI matching and of its mean, as of the correlation matching") {
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  Net a(cfg, {1, 10, 10}, 5, Device::cpu(), 32), b(cfg, {1, 10, 10}, 5, Device::cpu(), 32);
  a.init(3);
  b.init(4);
  const std::vector<int> planted = permute_into(a, b, 77)[0];  // b's unit j is a's unit planted[j]
  const int c = (int)planted.size(), dead_a = 2, dead_b = 5;   // a's unit 2 dead; b's unit 5 (a copy of a live unit) dead
  REQUIRE(planted[dead_b] != dead_a);
  kill_conv1_unit(a, dead_a);
  kill_conv1_unit(b, dead_b);
  NoiseSet data(300);
  CorrelateOptions opt;
  opt.batch = 32, opt.quiet = true, opt.threads = 1;
  opt.layers = {"conv1"}, opt.mi_layers = {"conv1"};
  const std::vector<LayerResult> res = correlate_nets({&a, &b}, data, opt);
  REQUIRE(res.size() == 1);
  const LayerResult& r = res[0];
  REQUIRE(r.stats.zero_variance[0] == std::vector<int>{dead_a});
  REQUIRE(r.stats.zero_variance[1] == std::vector<int>{dead_b});
  const PairResult& p = r.pairs.at(0);
  REQUIRE(p.mi.size() == (size_t)c * c);
  // Without the fix the dead row (MI exactly 0) took a live partner, and the dead column one too.
  CHECK(p.mi_bipartite.row_to_col[dead_a] == -1);
  double sum = 0;
  int matched = 0, agree = 0, corr_matched = 0;
  for (int i = 0; i < c; ++i) {
    const int64_t j = p.mi_bipartite.row_to_col[i];
    CHECK(j != dead_b);
    if (j >= 0) ++matched, sum += p.mi[(size_t)i * c + j];
    if (p.bipartite.row_to_col[i] >= 0) ++corr_matched, agree += p.bipartite.row_to_col[i] == j;
  }
  CHECK(matched == c - 1);  // every live unit of a: both nets have c - 1 live units
  CHECK(corr_matched == c - 1);
  CHECK(p.summary["mi_bipartite_mean_nats"].get<double>() == doctest::Approx(sum / matched).epsilon(1e-12));
  CHECK(p.summary["mi_agrees_with_correlation"].get<double>() == doctest::Approx((double)agree / corr_matched).epsilon(1e-12));
  // The live copies still find each other by MI (each copy pair's MI is its binned entropy).
  for (int j = 0; j < c; ++j)
    if (planted[j] != dead_a && j != dead_b) CHECK(p.mi_bipartite.row_to_col[planted[j]] == j);
}

TEST_CASE("correlate: three permuted copies of one net are fully cycle-consistent, every unit universal; with intervals") {
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  std::vector<std::unique_ptr<Net>> nets;
  for (int k = 0; k < 3; ++k) nets.push_back(std::make_unique<Net>(cfg, std::vector<int>{1, 10, 10}, 5, Device::cpu(), 32));
  nets[0]->init(3);
  nets[1]->init(4), nets[2]->init(5);  // then overwritten with a's permuted weights
  permute_into(*nets[0], *nets[1], 77);
  permute_into(*nets[0], *nets[2], 91);
  NoiseSet data(160);
  CorrelateOptions opt;
  opt.batch = 32, opt.quiet = true, opt.threads = 1, opt.layers = {"conv2", "fc3"};
  opt.blocks = 5, opt.bootstrap = 20, opt.universal_threshold = 0.99;
  std::vector<LayerResult> res = correlate_nets({nets[0].get(), nets[1].get(), nets[2].get()}, data, opt);
  for (const LayerResult& r : res) {
    INFO("layer ", r.name);
    const int c = r.moments.units[0];
    REQUIRE(r.multiway.is_object());
    CHECK(r.multiway["cycle_consistent_fraction"].get<double>() == 1.0);
    REQUIRE(r.multiway["universal_units"].size() == 3);
    for (const auto& net : r.multiway["universal_units"]) CHECK(net.size() == (size_t)c);
    CHECK(r.blocks.size() == 5);
    REQUIRE(r.bootstrap["pairs"].size() == 3);
    // Every replicate matches the copies at 1, all live units mutually (a unit active in few
    // images can be dead in a resample that leaves out its blocks).
    const auto w = bootstrap_weights(5, 20, opt.bootstrap_seed);
    std::vector<std::vector<double>> semi(3);
    for (int rep = 0; rep < 20; ++rep) {
      const LayerScores sc = score_layer(weighted_moments(r.blocks, w[rep]), Solver::Exact, Device::cpu());
      for (size_t i = 0; i < sc.pairs.size(); ++i) {
        const PairResult& p = sc.pairs[i];
        CHECK(p.scores.bipartite > 1 - 1e-5);
        CHECK(p.scores.mutual == c - (double)sc.stats.zero_variance[p.a].size());
        semi[i].push_back(p.scores.semi_ab);
      }
    }
    for (size_t i = 0; i < 3; ++i) {  // the intervals are those replicates'
      const auto& pj = r.bootstrap["pairs"][i];
      const Interval want = percentile_interval(semi[i]);
      CHECK(pj["semi_matching_ab"][0].get<double>() == want.lo);
      CHECK(pj["semi_matching_ab"][1].get<double>() == want.hi);
      CHECK(pj["bipartite"][0].get<double>() > 1 - 1e-5);
      CHECK(pj["mutual_best_partners"][1].get<double>() == c);
      CHECK(pj["random_permutation_expected"][0].get<double>() <= pj["random_permutation_expected"][1].get<double>());
    }
    CHECK(bootstrap_layer(r.blocks, 20, opt.bootstrap_seed)["pairs"] == r.bootstrap["pairs"]);  // seeded: reproducible
  }
  // Block moments that would not fit are refused before the pass.
  opt.memory_limit = 1 << 20;
  opt.blocks = 4096;
  // conv2: 3 x (16^2 + 2 x 16) + 3 x 16 x 16 doubles, fc3 the same with 20: 4152 doubles per block, twice.
  CHECK_THROWS_WITH_AS(correlate_nets({nets[0].get(), nets[1].get(), nets[2].get()}, data, opt),
                       "--blocks 4096: the block moments need 259 MiB but 1 MiB of memory are available; use fewer "
                       "--blocks, fewer nets or --layers",
                       InputError);
}

TEST_CASE("correlate: mismatched nets are refused with a clear message") {
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  Net a(cfg, {1, 10, 10}, 5, Device::cpu(), 4), b(cfg, {1, 12, 12}, 5, Device::cpu(), 4);
  CHECK_THROWS_WITH_AS(comparable_layers({&a, &b}, {}, {"seed1", "seed2"}),
                       "seed1 and seed2 take different input shapes (1x10x10 vs 1x12x12)", InputError);
  // Not a conv/fc layer, or no such layer: the message lists the layers there are.
  CHECK_THROWS_WITH_AS(comparable_layers({&a, &a}, {"pool1"}),
                       "no conv or fc layer 'pool1' in every net (the layers they share: conv1, conv2, fc3, fc4)", InputError);
  CHECK_THROWS_AS(comparable_layers({&a, &a}, {"conv9"}), InputError);
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
  REQUIRE(res[0].size() == res[1].size());
  bool saw_mi = false;
  for (size_t l = 0; l < res[0].size(); ++l) {
    const PairResult &c = res[0][l].pairs[0], &g = res[1][l].pairs[0];
    CAPTURE(res[0][l].name);
    CHECK(res[1][l].name == res[0][l].name);
    // Correlations of float32 activations whose forward passes differ by summation order (a few
    // ulps per layer): 1e-4 absolute on values in [-1, 1].
    test::record_gpu_result("correlate " + res[0][l].name, test::worst_error(g.between, c.between, 1e-4, 0));
    CHECK_ALL_CLOSE(g.between, c.between, 1e-4, 0);
    // Mutual information exactly where it was asked for, on both devices.
    const bool asked = res[0][l].name == "conv1";
    CHECK(c.mi.empty() == !asked);
    REQUIRE(g.mi.size() == c.mi.size());
    if (!asked) continue;
    saw_mi = true;
    REQUIRE(c.mi.size() == c.between.size());
    // Both devices bin their own activations against edges drawn from those same activations, so a
    // sample changes bins only when the devices' few-ulp difference straddles an edge: rare (about
    // N * edges * 1e-6 ~ 0.1 samples per unit here). Moving one of N samples moves two joint and
    // two marginal cells by 1/N, each changing its p log p term by at most (ln N + 1) / N, and the
    // bias correction by at most one cell count, 1/(2N) per cell: allow two moved samples per pair.
    const double N = (double)res[0][l].moments.count;
    const double per_sample = (4 * (std::log(N) + 1) + 2) / N;
    test::record_gpu_result("correlate mutual information " + res[0][l].name, test::worst_error(g.mi, c.mi, 2 * per_sample, 0));
    CHECK_ALL_CLOSE(g.mi, c.mi, 2 * per_sample, 0);
    double sum = 0;
    for (double v : c.mi) sum += v;
    CHECK(sum > 0);  // the units do share information: a comparison of zeros would prove nothing
  }
  CHECK(saw_mi);
}

namespace {

namespace fs = std::filesystem;

// Saves `net` as a checkpoint and reads it back: what the tools open.
Checkpoint as_checkpoint(Net& net, const std::string& dir, uint64_t seed) {
  CheckpointInfo info;
  info.seed = seed;
  info.iteration = 10;
  info.data_spec = "noise";
  const std::string path = dir + "/ckpt-seed" + std::to_string(seed) + ".bin";
  save_checkpoint(path, net, info);
  return read_checkpoint(path);
}

std::string slurp(const std::string& path) {
  std::vector<char> b = read_file(path);
  return std::string(b.begin(), b.end());
}

// Three independent nets of kPermNet, correlated and written as bin/correlate does.
struct ThreeNets {
  test::ScratchDir scratch{"corr-out"};
  std::string dir = scratch.path(), out;
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  std::vector<std::unique_ptr<Net>> nets;
  std::vector<Checkpoint> cks;
  std::vector<LayerResult> res;
  ThreeNets() {
    out = dir + "/correlate";
    std::vector<Net*> raw;
    std::vector<NetRecord> recs;
    for (int k = 0; k < 3; ++k) {
      nets.push_back(std::make_unique<Net>(cfg, std::vector<int>{1, 10, 10}, 5, Device::cpu(), 32));
      nets.back()->init(21 + k);
      raw.push_back(nets.back().get());
      cks.push_back(as_checkpoint(*nets.back(), dir, 21 + k));
      recs.push_back(net_record(cks.back(), dir + "/seed" + std::to_string(k + 1), k));
    }
    NoiseSet data(120);
    CorrelateOptions opt;
    opt.batch = 32, opt.quiet = true, opt.threads = 1, opt.layers = {"conv1", "fc3"}, opt.mi_layers = {"conv1"};
    res = correlate_nets(raw, data, opt);
    write_correlate_output(out, recs, res, {{"images", 120}});
  }
  const PairResult& pair(int layer, int p, int q) const {
    for (const PairResult& r : res[layer].pairs)
      if (r.a == p && r.b == q) return r;
    throw std::logic_error("no such pair");
  }
};

}  // namespace

TEST_CASE("correlate output: readers pick each pair's matrix by the nets' identities, in either order (three nets)") {
  ThreeNets t;
  const CorrelateOutput o = open_correlate_output(t.out);
  REQUIRE(o.nets.size() == 3);
  CHECK(o.nets[2].name == "seed3");
  CHECK(o.layers == std::vector<std::string>{"conv1", "fc3"});
  // Each checkpoint is found at its own index, whatever its path.
  for (int k = 0; k < 3; ++k) CHECK(o.find_net(t.cks[k], "anything") == k);
  for (int li = 0; li < 2; ++li) {
    const std::string layer = t.res[li].name;
    const int c = t.res[li].moments.units[0];
    for (int p = 0; p < 3; ++p)
      for (int q = 0; q < 3; ++q) {
        if (p == q) continue;
        INFO(layer, " pair ", p, ",", q);
        const PairResult& stored = t.pair(li, std::min(p, q), std::max(p, q));
        // The matrix: rows are net p's units, so the stored (min, max) matrix transposed when p > q.
        const std::vector<double> m = read_pair_matrix(o, layer, PairMatrix::Between, p, q, c, c);
        for (int i = 0; i < c; ++i)
          for (int j = 0; j < c; ++j) {
            const double want = p < q ? stored.between[(size_t)i * c + j] : stored.between[(size_t)j * c + i];
            REQUIRE(m[(size_t)i * c + j] == want);
          }
        if (li == 0) {  // the MI layer: its matrix is oriented the same way
          const std::vector<double> mi = read_pair_matrix(o, layer, PairMatrix::MutualInfo, p, q, c, c);
          for (int i = 0; i < c; ++i)
            for (int j = 0; j < c; ++j)
              REQUIRE(mi[(size_t)i * c + j] == (p < q ? stored.mi[(size_t)i * c + j] : stored.mi[(size_t)j * c + i]));
        } else {
          CHECK_THROWS_AS(read_pair_matrix(o, layer, PairMatrix::MutualInfo, p, q, c, c), InputError);
        }
        // The pairs: net p's unit a with net q's unit b, at their true correlation.
        const std::vector<MatchedPair> pairs = read_matched_pairs(o, layer, p, q, c, c);
        REQUIRE((int)pairs.size() == c);
        for (const MatchedPair& mp : pairs) {
          const int64_t partner = p < q ? stored.bipartite.row_to_col[mp.a] : -2;
          if (p < q)
            CHECK(partner == mp.b);
          else
            CHECK(stored.bipartite.row_to_col[mp.b] == mp.a);
          CHECK(mp.correlation == m[(size_t)mp.a * c + mp.b]);
        }
        for (size_t r = 1; r < pairs.size(); ++r) CHECK(pairs[r - 1].correlation >= pairs[r].correlation);
      }
  }
  // The raw moments of a layer, as bin/align reads them: those the pass accumulated.
  for (int li = 0; li < 2; ++li) {
    const Moments m = read_layer_moments(o, t.res[li].name);
    CHECK(m.count == t.res[li].moments.count);
    CHECK(m.units == t.res[li].moments.units);
    CHECK(m.cross == t.res[li].moments.cross);
  }
  CHECK_THROWS_AS(read_layer_moments(o, "conv2"), InputError);  // not correlated
  // Pair (1, 2) is not pair (0, 1): the bug this guards against drew between_0_1 for any two nets.
  CHECK(read_pair_matrix(o, "conv1", PairMatrix::Between, 1, 2, 12, 12) !=
        read_pair_matrix(o, "conv1", PairMatrix::Between, 0, 1, 12, 12));
  // A net that is not in the output is refused, naming the nets that are.
  Net other(t.cfg, {1, 10, 10}, 5, Device::cpu(), 4);
  other.init(99);
  const Checkpoint ck_other = as_checkpoint(other, t.dir, 99);
  CHECK_THROWS_AS(o.find_net(ck_other, "runs/other"), InputError);
  try {
    o.find_net(ck_other, "runs/other");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("not among the nets correlated") != std::string::npos);
    CHECK(std::string(e.what()).find("2 = seed3") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(o.layer("conv2"),
                       (t.out + ": no layer 'conv2' in this bin/correlate output (its layers: conv1, fc3)").c_str(), InputError);
  // Chosen pairs: the correlation of exactly those units, in the asked orientation.
  const std::vector<MatchedPair> chosen = chosen_pairs(o, "conv1", 2, 0, 12, 12, {{5, 3}, {0, 11}});
  CHECK(chosen[0].correlation == t.pair(0, 0, 2).between[3 * 12 + 5]);
  CHECK(chosen[1].correlation == t.pair(0, 0, 2).between[11 * 12 + 0]);
  CHECK_THROWS_AS(chosen_pairs(o, "conv1", 2, 0, 12, 12, {{12, 0}}), InputError);
  // summary.json counts the nets and images it was given.
  const nlohmann::json s = nlohmann::json::parse(slurp(t.out + "/summary.json"));
  CHECK(s["images"] == 120);
  CHECK(s["layers"][0]["pairs"][2]["net_a"] == "seed2");
  CHECK(s["layers"][0]["pairs"][2]["net_b"] == "seed3");
}

TEST_CASE("correlate output: all or nothing; readers refuse partial, mixed and foreign folders") {
  ThreeNets t;
  const std::string before = slurp(t.out + "/summary.json");
  SUBCASE("a run that fails half-way leaves the previous complete output and no partial folder") {
    std::vector<LayerResult> bad = t.res;
    bad[1].name = "../escape";  // fails after the first layer is written
    std::vector<NetRecord> recs;
    for (int k = 0; k < 3; ++k) recs.push_back(net_record(t.cks[k], "seed" + std::to_string(k + 1), k));
    CHECK_THROWS_AS(write_correlate_output(t.out, recs, bad, {{"images", 7}}), InputError);
    CHECK(slurp(t.out + "/summary.json") == before);
    CHECK_NOTHROW(open_correlate_output(t.out));
    for (const auto& e : fs::directory_iterator(t.dir))
      CHECK(e.path().filename().string().find(".partial-") == std::string::npos);
    CHECK(!fs::exists(t.dir + "/escape"));
  }
  SUBCASE("a folder without summary.json (an interrupted run) is refused") {
    fs::remove(t.out + "/summary.json");
    CHECK_THROWS_WITH_AS(
        open_correlate_output(t.out),
        (t.out + ": no summary.json: not a complete bin/correlate output (an interrupted run, or the wrong folder)").c_str(),
        InputError);
  }
  SUBCASE("a layer missing a file is refused") {
    fs::remove(t.out + "/fc3/between_1_2.npy");
    CHECK_THROWS_WITH_AS(open_correlate_output(t.out), doctest::Contains((t.out + "/fc3/between_1_2.npy: missing").c_str()),
                         InputError);
  }
  SUBCASE("a layer from another run (other sample count) is refused") {
    const double other = 300;
    write_npy(t.out + "/fc3/moments/count.npy", &other, {1});
    CHECK_THROWS_WITH_AS(open_correlate_output(t.out),
                         doctest::Contains((t.out + "/fc3/moments/count.npy: its sample count differs").c_str()), InputError);
  }
  SUBCASE("an output of the old format, which did not record its nets, is refused") {
    nlohmann::json s = nlohmann::json::parse(before);
    s.erase("format");
    write_file_atomic(t.out + "/summary.json", s.dump());
    CHECK_THROWS_WITH_AS(open_correlate_output(t.out),
                         doctest::Contains((t.out + "/summary.json: written by an older bin/correlate").c_str()), InputError);
  }
  SUBCASE("an assignment that is not one-to-one is refused") {
    std::vector<int64_t> twice(12, 3);
    write_npy(t.out + "/conv1/bipartite_0_1.npy", twice.data(), {12});
    const CorrelateOutput o = open_correlate_output(t.out);
    CHECK_THROWS_WITH_AS(read_matched_pairs(o, "conv1", 0, 1, 12, 12),
                         doctest::Contains((t.out + "/conv1/bipartite_0_1.npy: column 3 is assigned twice").c_str()), InputError);
    CHECK_THROWS_WITH_AS(read_matched_pairs(o, "conv1", 0, 2, 12, 13),  // shape does not fit the nets
                         doctest::Contains((t.out + "/conv1/between_0_2.npy: shape [12, 12]").c_str()), InputError);
  }
  SUBCASE("--out that holds something else is never replaced") {
    const std::string foreign = t.dir + "/mine";
    make_dirs(foreign);
    write_file_atomic(foreign + "/notes.txt", std::string("keep"));
    const std::string refused = foreign + ": exists and is not a bin/correlate output folder";
    CHECK_THROWS_WITH_AS(check_replaceable_output(foreign, kCorrelateOwner), doctest::Contains(refused.c_str()), InputError);
    CHECK_THROWS_WITH_AS(write_correlate_output(foreign, {}, t.res, {}), doctest::Contains(refused.c_str()), InputError);
    CHECK(slurp(foreign + "/notes.txt") == "keep");
  }
  SUBCASE("a complete rerun replaces the old output as a whole") {
    std::vector<NetRecord> recs;
    for (int k = 0; k < 3; ++k) recs.push_back(net_record(t.cks[k], "seed" + std::to_string(k + 1), k));
    std::vector<LayerResult> one = {t.res[0]};
    const std::string stale = t.out + ".partial-999999999";  // left by a killed run (no such pid)
    make_dirs(stale + "/conv1");
    write_correlate_output(t.out, recs, one, {{"images", 120}});
    CHECK(!fs::exists(stale));
    CHECK(open_correlate_output(t.out).layers == std::vector<std::string>{"conv1"});
    CHECK(!fs::exists(t.out + "/fc3"));  // nothing of the old run stays beside the new one
  }
}

// A net and a widened copy: conv1 gets 4 extra units of noise (their next-layer weights are zero,
// so everything after conv1 is unchanged) and its 12 original units permuted. Correlation finds the
// 12 originals at 1.0 and leaves the 4 extras unmatched, in both orders; CCA sees A inside B.
TEST_CASE("correlate: nets of different widths (a net and its planted widened copy)") {
  NetConfig cfg = parse_net_config(kPermNet, "perm.json");
  std::string wide_json = kPermNet;
  wide_json.replace(wide_json.find("\"num_output\": 12"), 16, "\"num_output\": 16");
  NetConfig wcfg = parse_net_config(wide_json, "wide.json");
  Net a(cfg, {1, 10, 10}, 5, Device::cpu(), 32), b(wcfg, {1, 10, 10}, 5, Device::cpu(), 32);
  a.init(5);
  b.init(6);                                                // the 4 extra conv1 units keep b's own random weights: noise units
  const std::vector<int> perm = random_permutation(12, 7);  // b's unit perm[i] is a's unit i
  auto& la = a.layers();
  auto& lb = b.layers();
  std::vector<float> W1 = la[0]->params[0].value.data.to_host(), B1 = la[0]->params[1].value.data.to_host();
  std::vector<float> V1 = lb[0]->params[0].value.data.to_host(), C1 = lb[0]->params[1].value.data.to_host();
  for (int i = 0; i < 12; ++i) {
    std::copy_n(&W1[i * 9], 9, &V1[perm[i] * 9]);
    C1[perm[i]] = B1[i];
  }
  lb[0]->params[0].value.data.from_host(V1);
  lb[0]->params[1].value.data.from_host(C1);
  // conv2 (layer 4): input channel perm[i] of b takes a's channel i; the extra channels weigh 0.
  std::vector<float> W2 = la[4]->params[0].value.data.to_host(), V2(16 * 16 * 9, 0.0f);
  for (int o = 0; o < 16; ++o)
    for (int i = 0; i < 12; ++i) std::copy_n(&W2[(o * 12 + i) * 9], 9, &V2[(o * 16 + perm[i]) * 9]);
  lb[4]->params[0].value.data.from_host(V2);
  for (size_t l = 4; l < la.size(); ++l)
    for (size_t k = 0; k < la[l]->params.size(); ++k)
      if (l != 4 || k == 1) lb[l]->params[k].value.data.from_host(la[l]->params[k].value.data.to_host());

  NoiseSet data(200);
  CorrelateOptions opt;
  opt.batch = 32, opt.quiet = true, opt.threads = 1, opt.mi_layers = {"conv1"};
  for (int order = 0; order < 2; ++order) {
    INFO(std::string(order ? "wide net first" : "narrow net first"));
    std::vector<LayerResult> res = correlate_nets(order ? std::vector<Net*>{&b, &a} : std::vector<Net*>{&a, &b}, data, opt);
    const LayerResult& c1 = res[0];
    REQUIRE(c1.name == "conv1");
    const PairResult& p = c1.pairs[0];
    const int na = order ? 16 : 12, nb = order ? 12 : 16;
    CHECK(c1.moments.units == std::vector<int>{na, nb});
    REQUIRE(p.between.size() == (size_t)na * nb);
    for (int i = 0; i < 12; ++i) {
      const int u = order ? perm[i] : i, v = order ? i : perm[i];  // a's unit i is b's perm[i]
      CHECK(p.bipartite.row_to_col[u] == v);
      CHECK(p.between[(size_t)u * nb + v] > 1 - 1e-5);
    }
    const std::vector<int> extras = {[&] {
      std::vector<char> used(16, 0);
      for (int i = 0; i < 12; ++i) used[perm[i]] = 1;
      std::vector<int> e;
      for (int j = 0; j < 16; ++j)
        if (!used[j]) e.push_back(j);
      return e;
    }()};
    CHECK(p.summary["unmatched_" + std::string(order ? "a" : "b")].get<std::vector<int>>() == extras);
    CHECK(p.summary["unmatched_" + std::string(order ? "b" : "a")].empty());
    CHECK(p.summary["bipartite"].get<double>() > 1 - 1e-5);  // the mean over the 12 matched pairs
    CHECK(p.mi.size() == (size_t)na * nb);
    // Layers after conv1 are the same functions of the input: unit i matches unit i at 1.0 (units
    // dead on this noise have zero variance, correlation 0 by convention, and are skipped).
    for (size_t l = 1; l < res.size(); ++l) {
      const PairResult& q = res[l].pairs[0];
      const int c = res[l].moments.units[0];
      for (int i = 0; i < c; ++i) {
        if (res[l].stats.std[0][i] == 0) continue;
        CHECK(q.bipartite.row_to_col[i] == i);
        CHECK(q.between[(size_t)i * c + i] > 1 - 1e-5);
      }
    }
    // Global scores on the rectangular pair: every one of a's 12 directions lies in b's span.
    const PairMoments pm = pair_moments(c1.moments, 0, 1);
    const GlobalScores g = global_scores(pm);
    REQUIRE(g.cca.size() == 12);
    CHECK(g.cca.back() > 1 - 1e-6);
    CHECK(std::isfinite(g.cka));
    CHECK(g.cka < 1);  // b has variance a does not explain
    CHECK(std::isfinite(g.procrustes));
  }
}
