// Visualisation: receptive fields against brute force, top-k against a full sort, and the three
// projection modes (deconv, guided, gradient) against the engine's backward and their ReLU rules.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "analysis/vis/deconv.h"
#include "base/npy.h"
#include "analysis/vis/receptive_field.h"
#include "analysis/stats/topk.h"
#include "analysis/vis/figure.h"
#include "data/dataset.h"
#include "kernels/conv.h"
#include "kernels/rng.h"
#include "kernels/stats.h"
#include "base/io.h"
#include "nn/net.h"
#include "tests/check.h"

using namespace cvg;

namespace {

// ---------------------------------------------------------------- receptive fields

// The spatial skeleton of a config: one channel per conv (no groups), weights 1, biases 0. Channel
// counts and groups never move a window, so its receptive fields are the original's. With a one-hot
// input every activation is >= 0 (ReLU, max pooling, LRN keep the sign) and is > 0 exactly where
// the hot pixel can reach: "perturb one pixel, see which outputs change" from an all-zero baseline.
std::unique_ptr<Net> skeleton(NetConfig cfg, int h, int w) {
  for (LayerConfig& l : cfg.layers) {
    if (l.type == "conv") l.num_output = 1, l.group = 1;
    if (l.type == "fc" && l.num_output > 0) l.num_output = 2;
  }
  auto net = std::make_unique<Net>(cfg, std::vector<int>{1, h, w}, 2, Device::cpu(), 1);
  for (Param* p : net->params()) {
    std::vector<float> v(p->value.numel(), p->name.find(".weight") != std::string::npos ? 1.0f : 0.0f);
    p->value.data.from_host(v);
  }
  return net;
}

void check_against_brute_force(const std::string& config, const std::vector<std::string>& layers) {
  NetConfig cfg = load_net_config(config);
  const int h = cfg.input[1], w = cfg.input[2];
  auto net = skeleton(cfg, h, w);
  const int probes[][2] = {{0, 0}, {0, w - 1}, {h - 1, 0}, {h - 1, w - 1},     {h / 2, w / 2},
                           {1, 2}, {h - 2, 5}, {3, w - 4}, {h / 3, 2 * w / 3}, {(2 * h) / 3 + 1, 7}};
  for (const auto& p : probes) {
    std::vector<float> x((size_t)h * w, 0.0f);
    x[(size_t)p[0] * w + p[1]] = 1.0f;
    net->set_batch(x.data(), nullptr, 1);
    net->forward(false, 0);
    for (const std::string& layer : layers) {
      ReceptiveField rf = receptive_field(*net, layer);
      CHECK(rf.exact);
      const Tensor& t = net->units(layer);
      std::vector<float> y = t.data.to_host();
      const int oh = t.dim(2), ow = t.dim(3);
      int reached = 0, wrong = 0;
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          bool changed = y[(size_t)oy * ow + ox] != 0.0f;
          reached += changed;
          wrong += changed != rf.window(oy, ox).contains(p[0], p[1]);
        }
      INFO(config, " ", layer, " pixel (", p[0], ", ", p[1], ")");
      CHECK(reached > 0);  // the probe is seen somewhere: the comparison is not vacuous
      CHECK(wrong == 0);
    }
  }
}

}  // namespace

TEST_CASE("vis: receptive field sizes of CaffeNet (docs/PAPER.md) and alexnet-mini") {
  NetConfig caffe = load_net_config("data/nets/caffenet.json");
  const char* names[] = {"conv1", "conv2", "conv3", "conv4", "conv5"};
  const int caffe_sizes[] = {11, 51, 99, 131, 163}, mini_sizes[] = {5, 15, 27, 35, 43};
  NetConfig mini = load_net_config("data/nets/alexnet-mini.json");
  for (int i = 0; i < 5; ++i) {
    CHECK(receptive_field(caffe, {3, 227, 227}, names[i]).size == caffe_sizes[i]);
    CHECK(receptive_field(mini, {1, 28, 28}, names[i]).size == mini_sizes[i]);
  }
  ReceptiveField c5 = receptive_field(caffe, {3, 227, 227}, "conv5");
  CHECK(c5.jump == 16);
  CHECK(c5.offset == -2 * 8 - 1 * 16 * 3);  // conv2 pad 2 at jump 8, conv3..5 pad 1 at jump 16
  ReceptiveField fc = receptive_field(mini, {1, 28, 28}, "fc6");
  CHECK(fc.whole_input);
  CHECK(fc.window(0, 0).h == 28);
  CHECK_THROWS_AS(receptive_field(mini, {1, 28, 28}, "conv9"), InputError);
  // A 1x1 stride-2 subsampling under a 3x3 kernel sees every other pixel: a window with holes.
  NetConfig holes = parse_net_config(R"({"name":"h","input":[1,9,9],"layers":[
      {"name":"s","type":"conv","num_output":1,"kernel_size":1,"stride":2},
      {"name":"c","type":"conv","num_output":1,"kernel_size":3},
      {"name":"f","type":"fc","num_output":"classes"},{"name":"l","type":"softmax_loss"}]})",
                                     "holes.json");
  CHECK(receptive_field(holes, {1, 9, 9}, "s").exact);
  CHECK(!receptive_field(holes, {1, 9, 9}, "c").exact);
}

TEST_CASE("vis: receptive fields agree with one-pixel perturbations (alexnet-mini, CaffeNet)") {
  check_against_brute_force("data/nets/alexnet-mini.json", {"conv1", "conv2", "conv3", "conv4", "conv5"});
  check_against_brute_force("data/nets/caffenet.json", {"conv1", "conv2", "conv3", "conv4", "conv5"});
}

TEST_CASE("vis: crops are zero-filled (or filled) past the border") {
  const int c = 2, h = 4, w = 5;
  std::vector<float> img(c * h * w);
  for (size_t i = 0; i < img.size(); ++i) img[i] = (float)(i + 1);
  Window win{-1, 3, 3, 4};  // rows -1..1, columns 3..6
  std::vector<float> z = crop(img.data(), c, h, w, win);
  const float fill[2] = {-7, -8};
  std::vector<float> f = crop(img.data(), c, h, w, win, fill);
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) {
        int iy = y - 1, ix = x + 3;
        bool in = iy >= 0 && iy < h && ix < w;
        size_t o = ((size_t)ch * 3 + y) * 4 + x;
        CHECK(z[o] == (in ? img[((size_t)ch * h + iy) * w + ix] : 0.0f));
        CHECK(f[o] == (in ? img[((size_t)ch * h + iy) * w + ix] : fill[ch]));
      }
}

// ---------------------------------------------------------------- top-k

namespace {

// The reference: each image's maximum over positions (lowest position on ties), then a full sort.
std::vector<std::vector<TopEntry>> full_sort(const std::vector<float>& x, int n, int c, int h, int w, int k) {
  std::vector<std::vector<TopEntry>> out(c);
  for (int u = 0; u < c; ++u) {
    std::vector<TopEntry> all;
    for (int i = 0; i < n; ++i) {
      const float* p = &x[((size_t)i * c + u) * h * w];
      int best = 0;
      for (int q = 1; q < h * w; ++q)
        if (p[q] > p[best]) best = q;
      all.push_back({p[best], i, best / w, best % w});
    }
    std::sort(all.begin(), all.end(), [](const TopEntry& a, const TopEntry& b) {
      return a.value > b.value || (a.value == b.value && a.image < b.image);
    });
    if ((int)all.size() > k) all.resize(k);  // fewer images than k: fewer entries
    out[u] = all;
  }
  return out;
}

// Values on a coarse grid so that ties (within an image and across images) are common.
std::vector<float> tie_heavy(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::floor(rng_uniform(seed, 0x70b, i) * 12) - 3;
  return v;
}

void check_tables(const std::vector<std::vector<TopEntry>>& got, const std::vector<std::vector<TopEntry>>& want) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t u = 0; u < want.size(); ++u) {
    bad += got[u].size() != want[u].size();
    for (size_t r = 0; r < std::min(got[u].size(), want[u].size()); ++r) {
      const TopEntry &g = got[u][r], &e = want[u][r];
      bad += g.image != e.image || g.value != e.value || g.y != e.y || g.x != e.x;
    }
  }
  CHECK(bad == 0);
}

std::vector<std::vector<TopEntry>> run_topk(const Device& dev, const std::vector<float>& x, int n, int c, int h, int w, int k,
                                            const std::vector<int>& batches) {
  // The device accumulator topk_pass uses, fed directly.
  TopKAccumulator t(dev, c, k, w);
  Array<float> buf(dev, x.size());
  buf.from_host(x);
  int first = 0;
  for (int b : batches) {
    t.add_batch(buf.data() + (size_t)first * c * h * w, first, b, h * w);
    first += b;
  }
  REQUIRE(first == n);
  return t.result();
}

// Random 3x10x10 images; enough for the top-k pass through a small net.
class NoiseSet : public Dataset {
 public:
  size_t size() const override { return 203; }
  int num_classes() const override { return 3; }
  ImageShape shape() const override { return {3, 10, 10}; }
  std::string describe() const override { return "noise"; }
  Normalisation normalisation() const override { return {{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}; }
  int32_t load(size_t i, float* out, bool, uint64_t) const override {
    for (int j = 0; j < 300; ++j) out[j] = 2 * rng_uniform(99, i, j) - 1;
    return (int32_t)(i % 3);
  }
};

const char* kSmallNet = R"({"name":"small","input":[3,10,10],"layers":[
  {"name":"conv1","type":"conv","num_output":6,"kernel_size":3,"pad":1,"weight_std":"msra","bias":0.05},
  {"name":"relu1","type":"relu"},
  {"name":"pool1","type":"maxpool","kernel_size":3,"stride":2},
  {"name":"norm1","type":"lrn","local_size":3,"alpha":0.5,"beta":0.75,"k":1},
  {"name":"conv2","type":"conv","num_output":5,"kernel_size":3,"pad":1,"group":1,"weight_std":"msra","bias":0.05},
  {"name":"relu2","type":"relu"},
  {"name":"drop2","type":"dropout","ratio":0.5},
  {"name":"fc3","type":"fc","num_output":"classes"},
  {"name":"loss","type":"softmax_loss"}]})";

}  // namespace

TEST_CASE("vis: top-k per unit agrees with a full sort") {
  const int n = 37, c = 5, h = 3, w = 4;
  std::vector<float> x = tie_heavy((size_t)n * c * h * w, 1);
  for (int k : {1, 9, 32}) {
    INFO("k = ", k);
    check_tables(run_topk(Device::cpu(), x, n, c, h, w, k, {8, 8, 1, 13, 7}), full_sort(x, n, c, h, w, k));
  }
  // Fewer images than k: fewer entries.
  check_tables(run_topk(Device::cpu(), x, 5, c, h, w, 9, {3, 2}), full_sort(x, 5, c, h, w, 9));
}

TEST_CASE("vis: the top-k pass over a dataset matches per-image activations") {
  NetConfig cfg = parse_net_config(kSmallNet, "small.json");
  NoiseSet data;
  Net a(cfg, {3, 10, 10}, 3, Device::cpu(), 32), b(cfg, {3, 10, 10}, 3, Device::cpu(), 32);
  a.init(1), b.init(2);
  const size_t limit = 150;  // not a multiple of the batch: the last batch is partial
  std::vector<TopTable> tops = topk_pass({&a, &b}, "conv2", data, 9, limit, {}, 0);
  REQUIRE(tops.size() == 2);
  // Several layers in one pass: each layer's table is the one a pass of its own gives.
  std::vector<std::vector<TopTable>> multi =
      topk_pass({&a, &b}, std::vector<std::string>{"conv1", "conv2"}, data, 9, limit, {}, 0);
  REQUIRE(multi.size() == 2);
  check_tables(multi[0][1], tops[0]);
  check_tables(multi[1][1], tops[1]);
  check_tables(multi[0][0], topk_pass({&a}, "conv1", data, 9, limit, {}, 0)[0]);
  Net* nets[2] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    // The reference: the units of every image, one forward per image, then a full sort.
    const Tensor& t = nets[i]->units("conv2");
    const int c = t.dim(1), h = t.dim(2), w = t.dim(3);
    std::vector<float> all, img(300);
    for (size_t j = 0; j < limit; ++j) {
      data.load(j, img.data(), false, 0);
      nets[i]->set_batch(img.data(), nullptr, 1);
      nets[i]->forward(false, 0);
      std::vector<float> u = nets[i]->units("conv2").data.to_host();
      all.insert(all.end(), u.begin(), u.begin() + (size_t)c * h * w);
    }
    // Per-image results do not depend on the batch they ran in (per-image convolutions), so the
    // comparison is exact.
    check_tables(tops[i], full_sort(all, (int)limit, c, h, w, 9));
  }
}

TEST_CASE("vis: a top activation depends only on the pixels of its receptive-field window") {
  // The top-k positions, the receptive-field windows and the crops must line up: conv1's top
  // activations are its filter applied to the zero-filled crop (padding is zero input), and for
  // conv2 (through pooling and LRN) scrambling every pixel outside the window leaves the top
  // activation unchanged.
  NetConfig cfg = parse_net_config(kSmallNet, "small.json");
  NoiseSet data;
  Net net(cfg, {3, 10, 10}, 3, Device::cpu(), 16);
  net.init(4);
  std::vector<TopTable> t1 = topk_pass({&net}, "conv1", data, 4, 40, {}, 0);
  const Layer& c1 = *net.layers()[net.layer_index("conv1")];
  std::vector<float> w = c1.params[0].value.data.to_host(), b = c1.params[1].value.data.to_host(), img(300);
  ReceptiveField rf1 = receptive_field(net, "conv1");
  int checked = 0;
  for (int u = 0; u < 6; ++u)
    for (const TopEntry& e : t1[0][u]) {
      data.load(e.image, img.data(), false, 0);
      Window win = rf1.window(e.y, e.x);
      std::vector<float> patch = crop(img.data(), 3, 10, 10, win);
      double a = b[u];
      for (size_t i = 0; i < patch.size(); ++i) a += (double)patch[i] * w[u * 27 + i];
      CHECK(std::max(a, 0.0) == doctest::Approx(e.value).epsilon(1e-5));
      ++checked;
    }
  CHECK(checked == 24);

  std::vector<TopTable> t2 = topk_pass({&net}, "conv2", data, 3, 40, {}, 0);
  ReceptiveField rf2 = receptive_field(net, "conv2");
  const int h2 = net.units("conv2").dim(2), w2 = net.units("conv2").dim(3);
  int outside = 0;
  for (int u = 0; u < 5; ++u)
    for (const TopEntry& e : t2[0][u]) {
      data.load(e.image, img.data(), false, 0);
      Window win = rf2.window(e.y, e.x);
      std::vector<float> noise = test::randn(300, 1000 + e.image);
      for (int ch = 0; ch < 3; ++ch)
        for (int y = 0; y < 10; ++y)
          for (int x = 0; x < 10; ++x)
            if (!win.contains(y, x)) img[(ch * 10 + y) * 10 + x] = noise[(ch * 10 + y) * 10 + x], ++outside;
      net.set_batch(img.data(), nullptr, 1);
      net.forward(false, 0);
      std::vector<float> y = net.units("conv2").data.to_host();
      CHECK(y[((size_t)u * h2 + e.y) * w2 + e.x] == doctest::Approx(e.value).epsilon(1e-5));
    }
  CHECK(outside > 0);  // the windows do not cover the whole image: the check has teeth
}

// ---------------------------------------------------------------- projections

namespace {

struct Fixture {
  NetConfig cfg;
  std::unique_ptr<Net> net;
  std::vector<float> images;
  Fixture(const char* json, int batch, uint64_t seed, const Device& dev = Device::cpu()) {
    cfg = parse_net_config(json, "fixture.json");
    const std::vector<int>& in = cfg.input;
    net = std::make_unique<Net>(cfg, in, 3, dev, batch);
    net->init(seed);
    images = test::randn((size_t)batch * in[0] * in[1] * in[2], seed + 100);
  }
  int index(const char* name) const { return net->layer_index(name); }
  std::vector<float> host(int layer) { return net->output(layer).data.to_host(); }
};

// The positions of a layer's output (sample s, all units) with a positive activation, at most `max`.
std::vector<UnitAt> positive_positions(const std::vector<float>& y, int s, const std::vector<int>& shape, size_t max) {
  std::vector<UnitAt> out;
  const size_t per = (size_t)shape[0] * shape[1] * shape[2];
  for (int u = 0; u < shape[0]; ++u)
    for (int yy = 0; yy < shape[1]; ++yy)
      for (int xx = 0; xx < shape[2]; ++xx)
        if (y[s * per + ((size_t)u * shape[1] + yy) * shape[2] + xx] > 0 && out.size() < max) out.push_back({u, yy, xx});
  return out;
}

// The engine's own backward, layer by layer, from a one-hot seed at the units' tensor (the
// reference for gradient mode). Returns d(seed . units)/d(input) for each sample.
std::vector<float> engine_backward(Net& net, const std::string& layer, const std::vector<UnitAt>& at) {
  const int n = (int)at.size();
  const auto& layers = net.layers();
  int top = net.layer_index(layer);
  if (top + 1 < (int)layers.size() && layers[top + 1]->cfg.type == "relu") ++top;
  const std::vector<int>& s = layers[top]->out_shape;
  const size_t per = (size_t)s[0] * s[1] * s[2];
  std::vector<float> y = net.output(top).data.to_host(), seed(net.grad(top).numel(), 0.0f);
  for (int i = 0; i < n; ++i) {
    size_t o = i * per + ((size_t)at[i].unit * s[1] + at[i].y) * s[2] + at[i].x;
    seed[o] = y[o];
  }
  net.grad(top).data.from_host(seed);
  size_t ws = 0;
  for (auto& l : layers) ws = std::max(ws, l->workspace_floats(net.device()));
  Array<float> workspace(net.device(), std::max<size_t>(ws, 1));
  Tensor dinput(net.device(), net.input.shape);
  RunContext ctx;
  ctx.n = n, ctx.train = false, ctx.workspace = workspace.data();
  for (int l = top; l >= 0; --l)
    layers[l]->backward(l ? net.output(l - 1) : net.input, net.output(l), net.grad(l), l ? &net.grad(l - 1) : &dinput, ctx);
  std::vector<float> out = dinput.data.to_host();
  out.resize(n * net.input_shape()[0] * net.input_shape()[1] * net.input_shape()[2]);
  return out;
}

const char* kConvNet = R"({"name":"convs","input":[2,9,9],"layers":[
  {"name":"conv1","type":"conv","num_output":6,"kernel_size":3,"pad":1,"weight_std":"msra","bias":0.02},
  {"name":"relu1","type":"relu"},
  {"name":"conv2","type":"conv","num_output":4,"kernel_size":3,"stride":2,"pad":1,"group":2,"weight_std":"msra","bias":0.02},
  {"name":"relu2","type":"relu"},
  {"name":"conv3","type":"conv","num_output":4,"kernel_size":3,"pad":1,"weight_std":"msra","bias":0.02},
  {"name":"relu3","type":"relu"},
  {"name":"fc","type":"fc","num_output":"classes"},
  {"name":"loss","type":"softmax_loss"}]})";

}  // namespace

TEST_CASE("vis: gradient mode equals the engine's backward to the data") {
  SUBCASE("conv and ReLU only (groups too)") {
    Fixture f(kConvNet, 6, 3);
    f.net->set_batch(f.images.data(), nullptr, 6);
    f.net->forward(false, 0);
    const int top = f.index("relu3");
    std::vector<float> y = f.host(top);
    std::vector<UnitAt> at;
    for (int s = 0; s < 6; ++s) {
      std::vector<UnitAt> p = positive_positions(y, s, f.net->layers()[top]->out_shape, 40);
      REQUIRE(!p.empty());
      at.push_back(p[(s * 7) % p.size()]);
    }
    Projector proj(*f.net, "conv3");
    std::vector<float> acts;
    std::vector<float> got = proj.project_batch(at, ProjectionMode::Gradient, &acts);
    for (float a : acts) CHECK(a > 0);
    std::vector<float> want = engine_backward(*f.net, "conv3", at);
    CHECK_ALL_CLOSE(got, want, 0.0, 0.0);  // the same kernels on the same data: bit for bit
    double peak = 0;
    for (float v : got) peak = std::max(peak, (double)std::fabs(v));
    CHECK(peak > 0);
  }
  SUBCASE("with max pooling, LRN and dropout (the true gradient through all of them)") {
    Fixture f(kSmallNet, 4, 5);
    f.net->set_batch(f.images.data(), nullptr, 4);
    f.net->forward(false, 0);
    std::vector<float> y = f.host(f.index("relu2"));
    std::vector<UnitAt> at;
    for (int s = 0; s < 4; ++s) at.push_back(positive_positions(y, s, f.net->layers()[f.index("relu2")]->out_shape, 1).at(0));
    Projector proj(*f.net, "conv2");
    std::vector<float> got = proj.project_batch(at, ProjectionMode::Gradient);
    CHECK_ALL_CLOSE(got, engine_backward(*f.net, "conv2", at), 0.0, 0.0);
  }
}

TEST_CASE("vis: unpooling puts each value exactly at its window's recorded switch") {
  // conv1 -> relu1 -> pool1; projecting a pool1 output back (through a 1x1 identity conv above it)
  // must leave, at pool1's input, the seed at the argmax of that window and zero everywhere else.
  const char* json = R"({"name":"pool","input":[2,12,12],"layers":[
    {"name":"conv1","type":"conv","num_output":3,"kernel_size":3,"pad":1,"weight_std":"msra","bias":0.1},
    {"name":"relu1","type":"relu"},
    {"name":"pool1","type":"maxpool","kernel_size":3,"stride":2},
    {"name":"id","type":"conv","num_output":3,"kernel_size":1},
    {"name":"relu2","type":"relu"},
    {"name":"fc","type":"fc","num_output":"classes"},
    {"name":"loss","type":"softmax_loss"}]})";
  const int batch = 24;
  Fixture f(json, batch, 7);
  // The identity 1x1 conv, so pool1's output is the unit layer's value.
  Param& w = f.net->layers()[f.index("id")]->params[0];
  std::vector<float> eye(9, 0.0f);
  for (int i = 0; i < 3; ++i) eye[i * 3 + i] = 1;
  w.value.data.from_host(eye);
  f.net->layers()[f.index("id")]->params[1].value.data.zero();
  // The same image in every sample, a different pool output projected from each (covering the
  // last row/column, whose ceil-mode windows are clipped at the border).
  const int S = 12;
  const size_t per = 2 * S * S;
  std::vector<float> imgs;
  for (int s = 0; s < batch; ++s) imgs.insert(imgs.end(), f.images.begin(), f.images.begin() + per);
  f.net->set_batch(imgs.data(), nullptr, batch);
  f.net->forward(false, 0);
  const int ip = f.index("pool1");
  const std::vector<int>& ps = f.net->layers()[ip]->out_shape;  // [3, 6, 6]: ceil((12-3)/2) + 1, the last window clipped
  REQUIRE(ps[1] == 6);
  std::vector<UnitAt> cand = positive_positions(f.host(ip), 0, ps, 1000), at;
  for (size_t i = 0; i < cand.size() && (int)at.size() < batch; i += std::max<size_t>(1, cand.size() / batch))
    at.push_back(cand[i]);
  bool corner = false;
  for (const UnitAt& a : cand)
    if (a.y == 5 && a.x == 5 && (int)at.size() == batch) {
      at.back() = a, corner = true;
      break;
    }
  CHECK(corner);
  REQUIRE(!at.empty());
  for (ProjectionMode mode : {ProjectionMode::Deconv, ProjectionMode::Gradient}) {
    Projector proj(*f.net, "id");
    std::vector<float> acts;
    proj.project_batch(at, mode, &acts);
    std::vector<float> below = f.net->grad(f.index("relu1")).data.to_host();  // the unpooled signal
    std::vector<float> x = f.host(f.index("relu1"));
    const size_t plane = S * S, per_in = 3 * plane;
    int bad = 0;
    for (size_t s = 0; s < at.size(); ++s) {
      // The switch by a naive scan: the first maximum of the window, row-major.
      const UnitAt& a = at[s];
      const float* xp = &x[s * per_in + a.unit * plane];
      int best = -1;
      for (int yy = a.y * 2; yy < std::min(a.y * 2 + 3, S); ++yy)
        for (int xx = a.x * 2; xx < std::min(a.x * 2 + 3, S); ++xx)
          if (best < 0 || xp[yy * S + xx] > xp[best]) best = yy * S + xx;
      CHECK(acts[s] == xp[best]);
      for (size_t i = 0; i < per_in; ++i) {
        float want = (i == a.unit * plane + best) ? acts[s] : 0.0f;
        bad += below[s * per_in + i] != want;
      }
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("vis: deconv and guided differ from the gradient exactly at the ReLU rules") {
  // conv1 -> relu1 -> conv2 -> relu2, projected from conv2: the signal s reaching relu1 is the same
  // in every mode (the seed is positive, and conv2's transpose is linear); relu1 then applies
  //   gradient s [y > 0],  deconv max(s, 0),  guided max(s, 0) [y > 0],
  // and conv1's transpose takes each to the input.
  const char* json = R"({"name":"two","input":[2,8,8],"layers":[
    {"name":"conv1","type":"conv","num_output":5,"kernel_size":3,"pad":1,"weight_std":"msra","bias":-0.05},
    {"name":"relu1","type":"relu"},
    {"name":"conv2","type":"conv","num_output":4,"kernel_size":3,"pad":1,"weight_std":"msra","bias":0},
    {"name":"relu2","type":"relu"},
    {"name":"fc","type":"fc","num_output":"classes"},
    {"name":"loss","type":"softmax_loss"}]})";
  const int batch = 4;
  Fixture f(json, batch, 11);
  f.net->set_batch(f.images.data(), nullptr, batch);
  f.net->forward(false, 0);
  const int r1 = f.index("relu1"), c1 = f.index("conv1"), r2 = f.index("relu2");
  std::vector<float> y2 = f.host(r2), y1 = f.host(r1);
  std::vector<UnitAt> at;
  for (int s = 0; s < batch; ++s) at.push_back(positive_positions(y2, s, f.net->layers()[r2]->out_shape, 100).at(17 * s % 20));
  Projector proj(*f.net, "conv2");
  const Layer& L1 = *f.net->layers()[c1];
  const ConvGeom g1{batch, 2, 8, 8, 5, 3, 3, 1, 1, 1};
  std::vector<float> w1 = L1.params[0].value.data.to_host(), ws(cpu::conv_workspace_floats(g1));

  std::vector<float> s_ref, proj_of[3], rule_of[3];
  const ProjectionMode modes[3] = {ProjectionMode::Gradient, ProjectionMode::Deconv, ProjectionMode::Guided};
  for (int m = 0; m < 3; ++m) {
    proj_of[m] = proj.project_batch(at, modes[m]);
    std::vector<float> s = f.net->grad(r1).data.to_host();  // the signal arriving at relu1
    s.resize(y1.size());
    if (m == 0) s_ref = s;
    CHECK(s == s_ref);
    rule_of[m] = f.net->grad(c1).data.to_host();  // after relu1's rule
    rule_of[m].resize(y1.size());
  }
  int gd = 0, gg = 0, dg = 0, bad = 0;
  std::vector<float> want[3];
  for (int m = 0; m < 3; ++m) want[m].resize(y1.size());
  for (size_t i = 0; i < y1.size(); ++i) {
    float s = s_ref[i];
    want[0][i] = y1[i] > 0 ? s : 0.0f;
    want[1][i] = std::max(s, 0.0f);
    want[2][i] = y1[i] > 0 ? std::max(s, 0.0f) : 0.0f;
    for (int m = 0; m < 3; ++m) bad += rule_of[m][i] != want[m][i];
    gd += s > 0 && y1[i] == 0;  // deconv passes what the forward mask blocks
    gg += s < 0 && y1[i] > 0;   // the gradient passes a negative signal that deconv and guided drop
    dg += s > 0 && y1[i] > 0;   // all three agree here
  }
  CHECK(bad == 0);
  CHECK(gd > 0);
  CHECK(gg > 0);
  CHECK(dg > 0);
  // Each mode's projection is conv1's transpose applied to its own rule's output.
  for (int m = 0; m < 3; ++m) {
    std::vector<float> in(g1.x_size());
    cpu::conv_backward_data(g1, want[m].data(), w1.data(), in.data(), ws.data());
    CHECK_ALL_CLOSE(proj_of[m], in, 0.0, 0.0);
  }
  CHECK(proj_of[0] != proj_of[1]);
  CHECK(proj_of[1] != proj_of[2]);
}

TEST_CASE("vis: relu_down rules, and a projection with LRN skipped in deconv mode") {
  std::vector<float> y = test::randn(1000, 21), dy = test::randn(1000, 22);
  for (size_t i = 0; i < y.size(); i += 3) y[i] = 0;  // exact zeros, as after a ReLU
  for (ProjectionMode m : {ProjectionMode::Gradient, ProjectionMode::Deconv, ProjectionMode::Guided}) {
    std::vector<float> dx(1000);
    relu_down(Device::cpu(), m, 1000, y.data(), dy.data(), dx.data());
    int bad = 0;
    for (size_t i = 0; i < 1000; ++i) {
      float pos = std::max(dy[i], 0.0f), want = m == ProjectionMode::Gradient ? (y[i] > 0 ? dy[i] : 0.0f)
                                                : m == ProjectionMode::Deconv ? pos
                                                                              : (y[i] > 0 ? pos : 0.0f);
      bad += dx[i] != want;
    }
    CHECK(bad == 0);
  }
  CHECK(parse_projection_mode("guided") == ProjectionMode::Guided);
  CHECK_THROWS_AS(parse_projection_mode("lrp"), InputError);

  // In deconv mode LRN is the identity: the signal below norm1 equals the one above it.
  Fixture f(kSmallNet, 2, 9);
  f.net->set_batch(f.images.data(), nullptr, 2);
  f.net->forward(false, 0);
  const int n1 = f.index("norm1");
  std::vector<UnitAt> at = {
      positive_positions(f.host(f.index("relu2")), 0, f.net->layers()[f.index("relu2")]->out_shape, 1).at(0),
      positive_positions(f.host(f.index("relu2")), 1, f.net->layers()[f.index("relu2")]->out_shape, 1).at(0)};
  Projector proj(*f.net, "conv2");
  std::vector<float> p = proj.project_batch(at, ProjectionMode::Deconv);
  CHECK(f.net->grad(n1).data.to_host() == f.net->grad(n1 - 1).data.to_host());
  CHECK(*std::max_element(p.begin(), p.end()) > 0);
  // A deconv projection keeps the rectified signal's sign pattern down to the first conv: every
  // value that reached relu1 going down is >= 0.
  std::vector<float> below_relu1 = f.net->grad(f.index("conv1")).data.to_host();
  CHECK(*std::min_element(below_relu1.begin(), below_relu1.end()) >= 0.0f);
  CHECK_THROWS_AS(Projector(*f.net, "pool1"), InputError);
  CHECK_THROWS_AS(proj.project_batch({{99, 0, 0}}, ProjectionMode::Deconv), std::logic_error);
}

TEST_CASE("vis: rendering of patches, projections and pair figures") {
  Normalisation norm{{0.2860f, 0, 0}, {0.3530f, 1, 1}};
  std::vector<float> fill = black_fill(norm, 1);
  Image black = render_input(fill.data(), 1, 1, 1, norm);
  CHECK(black.rgb[0] == 0);
  float x[4] = {-2, 0, 1, 4};
  Image p = render_projection(x, 1, 2, 2);
  CHECK(p.at(1, 0)[0] == 128);  // zero is mid grey
  CHECK(p.at(1, 1)[0] == 255);  // the peak |v| maps to 128 + 127
  CHECK(p.at(0, 0)[0] == 65);   // -2 of peak 4 -> 128 - 63.5 = 64.5, rounded half away from zero
  CHECK(display_scale(5) == 10);
  CHECK(display_scale(163) == 1);
  UnitView v;
  for (int i = 0; i < 9; ++i) v.patches.push_back(Image(5, 5, 0)), v.projections.push_back(Image(5, 5, 0));
  Image b = unit_block(v, 9, 10);
  CHECK(b.w == 3 * 50 + 2 * 2);
  Image fig = pairs_figure({{v, v}, {v, v}}, 9, 10);
  CHECK(fig.w == 2 * b.w + 24);
  CHECK(fig.h == 2 * b.h + 14);

  // Labels: a title band, a row-name strip on the left, column headers and caption strips; the
  // grid itself unchanged below and right of them.
  PairFigureLabels labels;
  labels.title = "conv1 best";
  labels.row_a = "A: net-seed1", labels.row_b = "B: net-seed2";
  labels.pairs = {{"#1 of 64\nr = 0.900", "A: unit 1", "B: unit 2"}, {"#2 of 64\nr = 0.800", "A: unit 0", "B: unit 3"}};
  Image lab = pairs_figure({{v, v}, {v, v}}, 9, 10, labels);
  CHECK(lab.w > fig.w);  // the row-name strip
  CHECK(lab.h > fig.h);  // title, headers, two caption strips
  const int dx = lab.w - fig.w, b_top = lab.h - b.h;
  // Net B's bottom-right block is where the bare figure has it, shifted by the label bands.
  for (int y = 0; y < b.h; y += 7)
    for (int x = 0; x < b.w; x += 7)
      CHECK(lab.at(dx + fig.w - b.w + x, b_top + y)[0] == fig.at(fig.w - b.w + x, fig.h - b.h + y)[0]);
  auto dark_in = [&](int x0, int y0, int x1, int y1) {
    int d = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) d += lab.at(x, y)[0] < 100;
    return d;
  };
  CHECK(dark_in(0, 0, lab.w, 20) > 30);                           // the title
  CHECK(dark_in(0, 30, dx, lab.h) > 30);                          // the row names
  CHECK(dark_in(dx, lab.h - b.h - 14, lab.w, lab.h - b.h) > 20);  // B's caption strips
  Image one = with_caption(b, "A: net, unit 5");
  CHECK(one.w == b.w);
  CHECK(one.h > b.h);
}

TEST_CASE("vis: GPU and CPU agree (top-k, ReLU rules, projections)") {
  if (!test::gpu_or_skip()) return;
#ifdef CONVERGENT_CUDA
  const Device gpu{Device::CUDA, 0};
  // Top-k: exact comparisons and ties broken by image id on both: identical tables.
  const int n = 300, c = 7, h = 5, w = 6;
  std::vector<float> x = tie_heavy((size_t)n * c * h * w, 31);
  auto cpu_t = run_topk(Device::cpu(), x, n, c, h, w, 9, {128, 128, 44});
  check_tables(run_topk(gpu, x, n, c, h, w, 9, {128, 128, 44}), cpu_t);
  check_tables(cpu_t, full_sort(x, n, c, h, w, 9));
  test::record_gpu_result("vis topk", 0.0);

  // ReLU rules: elementwise selections, exact.
  std::vector<float> y = test::randn(5000, 32), dy = test::randn(5000, 33);
  for (size_t i = 0; i < y.size(); i += 3) y[i] = 0;
  Array<float> gy(gpu, y.size()), gdy(gpu, dy.size()), gdx(gpu, dy.size());
  gy.from_host(y), gdy.from_host(dy);
  for (ProjectionMode m : {ProjectionMode::Gradient, ProjectionMode::Deconv, ProjectionMode::Guided}) {
    std::vector<float> want(y.size());
    relu_down(Device::cpu(), m, y.size(), y.data(), dy.data(), want.data());
    relu_down(gpu, m, y.size(), gy.data(), gdy.data(), gdx.data());
    CHECK(gdx.to_host() == want);
  }

  // Projections of the same net and images on both devices. The forward and the transposed
  // convolutions sum in different orders (cuda: our SGEMM; cpu: OpenBLAS), ~1e-6 relative per
  // layer; the errors stay relative to the projection's scale, so we normalise by max |v|:
  // atol = 1e-4 * peak covers ~3 layers of float32 rounding with a wide margin. (A switch flipped
  // by a near-tie would move a whole value and fail this: with Gaussian inputs that is a 1e-6 event.)
  for (ProjectionMode m : {ProjectionMode::Deconv, ProjectionMode::Guided, ProjectionMode::Gradient}) {
    Fixture fc(kSmallNet, 4, 13), fg(kSmallNet, 4, 13, gpu);
    fc.net->set_batch(fc.images.data(), nullptr, 4), fc.net->forward(false, 0);
    std::vector<UnitAt> at;
    std::vector<float> y2 = fc.host(fc.index("relu2"));
    for (int s = 0; s < 4; ++s) at.push_back(positive_positions(y2, s, fc.net->layers()[fc.index("relu2")]->out_shape, 1).at(0));
    Projector pc(*fc.net, "conv2"), pg(*fg.net, "conv2");
    std::vector<float> want = pc.project(fc.images.data(), at, m), got = pg.project(fg.images.data(), at, m);
    double peak = 0;
    for (float v : want) peak = std::max(peak, (double)std::fabs(v));
    REQUIRE(peak > 0);
    CHECK_ALL_CLOSE(got, want, 1e-4 * peak, 0.0);
    test::record_gpu_result(std::string("vis projection ") + projection_mode_name(m),
                            test::worst_error(got, want, 1e-4 * peak, 0.0));
  }
#endif
}
