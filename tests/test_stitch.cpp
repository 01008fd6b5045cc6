// Weight import (npy folders, safetensors with f16/bf16, the errors), permuted nets, interpolation and
// layer stitching, on a small net with real LRN layers.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>

#include <nlohmann/json.hpp>

#include "nn/import.h"
#include "base/npy.h"
#include "analysis/match/permute.h"
#include "analysis/match/stitch.h"
#include "nn/trainer.h"
#include "kernels/rng.h"
#include "nn/checkpoint.h"
#include "base/io.h"
#include "tests/check.h"
#include "nn/export.h"

using namespace cvg;
using json = nlohmann::json;

namespace {

// Two LRN layers with a wide window and a large alpha, so that a permutation that does not commute
// with them changes the outputs visibly; fc4 reads conv3's 3x3 map (channel blocks of 9 inputs).
// fc4's bias keeps every unit alive on these images, so a correlation matching has no ties.
const char* kStitchNet = R"({
  "name": "stitchnet", "input": [1, 12, 12],
  "layers": [
    {"name": "conv1", "type": "conv", "num_output": 8, "kernel_size": 3, "pad": 1, "weight_std": "msra", "bias": 0.1},
    {"name": "relu1", "type": "relu"},
    {"name": "pool1", "type": "maxpool", "kernel_size": 3, "stride": 2},
    {"name": "norm1", "type": "lrn", "local_size": 5, "alpha": 2.0, "beta": 0.75, "k": 1},
    {"name": "conv2", "type": "conv", "num_output": 10, "kernel_size": 3, "pad": 1, "weight_std": "msra", "bias": 0.1},
    {"name": "relu2", "type": "relu"},
    {"name": "pool2", "type": "maxpool", "kernel_size": 3, "stride": 2},
    {"name": "norm2", "type": "lrn", "local_size": 3, "alpha": 2.0, "beta": 0.75, "k": 1},
    {"name": "conv3", "type": "conv", "num_output": 12, "kernel_size": 3, "pad": 1, "weight_std": "msra", "bias": 0.1},
    {"name": "relu3", "type": "relu"},
    {"name": "fc4", "type": "fc", "num_output": 16, "weight_std": "msra", "bias": 1.0},
    {"name": "relu4", "type": "relu"},
    {"name": "drop4", "type": "dropout", "ratio": 0.5},
    {"name": "fc5", "type": "fc", "num_output": "classes", "weight_std": 0.3},
    {"name": "loss", "type": "softmax_loss"}
  ]
})";
const std::vector<int> kInput = {1, 12, 12};
const int kClasses = 5;

// Images whose label decides where a bright patch sits, plus noise: outputs vary from image to image.
class PatchSet : public Dataset {
 public:
  explicit PatchSet(size_t n) : n_(n) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return kClasses; }
  ImageShape shape() const override { return {1, 12, 12}; }
  Normalisation normalisation() const override { return {{0, 0, 0}, {1, 1, 1}}; }
  std::string describe() const override { return "patches"; }
  int32_t load(size_t i, float* out, bool, uint64_t) const override {
    const int label = (int)(i % kClasses);
    for (int p = 0; p < 144; ++p) {
      const int y = p / 12, x = p % 12;
      const bool on = std::abs(y - 2 * label - 1) <= 1 && std::abs(x - 6) <= 2;
      out[p] = (on ? 1.0f : 0.0f) + rng_uniform(23, i, p) - 0.5f;
    }
    return label;
  }

 private:
  size_t n_;
};

std::unique_ptr<Net> make_net(uint64_t seed, int batch = 32) {
  static const NetConfig cfg = parse_net_config(kStitchNet, "stitchnet.json");
  auto net = std::make_unique<Net>(cfg, kInput, kClasses, Device::cpu(), batch);
  net->init(seed);
  return net;
}

std::vector<float> values(Net& net, bool momentum = false) {
  std::vector<float> out;
  for (Param* p : net.params()) {
    auto v = (momentum ? p->momentum : p->value).data.to_host();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The class probabilities of the first `n` images.
std::vector<float> outputs(Net& net, const Dataset& data, int n) {
  std::vector<float> x((size_t)n * 144);
  std::vector<int32_t> y(n);
  for (int i = 0; i < n; ++i) y[i] = data.load(i, x.data() + (size_t)i * 144, false, 0);
  net.set_batch(x.data(), y.data(), n);
  net.forward(false, 0);
  auto all = net.output((int)net.layers().size() - 1).data.to_host();
  return std::vector<float>(all.begin(), all.begin() + (size_t)n * kClasses);
}

std::vector<int> random_permutation(int n, uint64_t seed) {
  std::vector<int> p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int i = n - 1; i > 0; --i) std::swap(p[i], p[rng_bits(seed, 5, i) % (i + 1)]);
  return p;
}
std::vector<int> reversal(int n) {
  std::vector<int> p(n);
  for (int i = 0; i < n; ++i) p[i] = n - 1 - i;
  return p;
}

// A planted permutation that commutes with the LRN layers: reversals for conv1 and conv2 (the
// symmetric window keeps its set of channels, edges included), random ones for conv3 and fc4.
UnitPermutations planted() {
  return {
      {"conv1", reversal(8)}, {"conv2", reversal(10)}, {"conv3", random_permutation(12, 1)}, {"fc4", random_permutation(16, 2)}};
}

// bin/correlate's files for a matching of A (rows) to B (columns): correlation 1 on the pairs.
// Builds a safetensors file: tensors (name, dtype, shape, raw little-endian bytes) in order.
struct RawTensor {
  std::string name, dtype;
  std::vector<int> shape;
  std::string bytes;
};
std::string safetensors_bytes(const std::vector<RawTensor>& ts) {
  json h = {{"__metadata__", {{"format", "pt"}}}};
  std::string data;
  for (const RawTensor& t : ts) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string head = h.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = (char)((uint64_t)head.size() >> (8 * i));
  return out + head + data;
}
std::string f32_bytes(const std::vector<float>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4); }
std::string u16_bytes(const std::vector<uint16_t>& v) {
  std::string s;
  for (uint16_t h : v) s += (char)(h & 0xff), s += (char)(h >> 8);
  return s;
}
std::vector<NamedTensor> parse(const std::string& bytes) {
  return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

TEST_CASE("import: exported .npy files give back the checkpoint's weights bit for bit") {
  auto net = make_net(5);
  // Non-zero momenta in the original: the export holds values only, so the import's momenta are zero.
  for (Param* p : net->params()) p->momentum.data.from_host(test::randn(p->value.numel(), 9));
  test::ScratchDir scratch("stitch-export");
  const std::string& dir = scratch.path();
  CheckpointInfo info;
  info.seed = 5;
  save_checkpoint(dir + "/ckpt.bin", *net, info);
  Checkpoint ck = read_checkpoint(dir + "/ckpt.bin");
  CHECK(export_checkpoint_npy(ck, dir + "/npy", nullptr) == 10);

  auto imported = make_net(99);
  write_file_atomic(dir + "/npy/._conv1.weight.npy", std::string("\0\5\26\7Mac OS X metadata", 22));  // skipped: hidden
  load_tensors(*imported, read_weights(dir + "/npy"), dir + "/npy");
  const std::string run = dir + "/imported";
  // A temporary folder of this pid left by a killed process: none of its files may reach the run.
  make_dirs(run + ".tmp." + std::to_string(::getpid()) + "/sub");
  write_file_atomic(run + ".tmp." + std::to_string(::getpid()) + "/" + checkpoint_name(99), std::string("stale"));
  const std::string path = write_run_folder(run, *imported, info);
  CHECK(path == run + "/" + checkpoint_name(0));
  CHECK(!file_exists(run + "/" + checkpoint_name(99)));
  CHECK(!std::filesystem::exists(run + "/sub"));
  auto back = read_checkpoint(path).make_net(Device::cpu(), 4);
  CHECK(bit_identical(values(*back), values(*net)));
  CHECK(bit_identical(values(*back, true), std::vector<float>(values(*net).size(), 0.0f)));
  // A second import into the same (now non-empty) folder is refused; nothing half-written is left.
  CHECK(test::error_of<InputError>([&] { write_run_folder(run, *imported, info); }) ==
        run + ": exists and is not empty (remove it or choose another --out)");
  CHECK(!file_exists(run + ".tmp." + std::to_string(::getpid())));
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("import: safetensors with PyTorch names and f32/f16/bf16 tensors") {
  auto net = make_net(6);
  // PyTorch-style names for every parameter; conv weights as F32, biases as F16, fc weights as BF16.
  // Each value is first rounded to what its dtype holds, so the import must reproduce it exactly.
  std::vector<RawTensor> raw;
  json map = json::object();
  std::vector<std::vector<float>> expect;
  int k = 0;
  for (Param* p : net->params()) {
    std::vector<float> v = p->value.data.to_host();
    const bool bias = p->name.find(".bias") != std::string::npos, fc = p->name.rfind("fc", 0) == 0;
    RawTensor t{"features." + std::to_string(k++) + (bias ? ".bias" : ".weight"),
                bias ? "F16"
                : fc ? "BF16"
                     : "F32",
                p->shape, ""};
    if (t.dtype == "F32") {
      t.bytes = f32_bytes(v);
    } else if (t.dtype == "BF16") {
      std::vector<uint16_t> h;
      for (float& x : v) {
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        h.push_back((uint16_t)(bits >> 16));
        bits &= 0xffff0000u;  // bf16 keeps the top half of the float32 bits
        std::memcpy(&x, &bits, 4);
      }
      t.bytes = u16_bytes(h);
    } else {
      // f16 of small multiples of 1/1024 (exact in f16): sign bit, exponent, 10-bit mantissa.
      std::vector<uint16_t> h;
      for (size_t i = 0; i < v.size(); ++i) {
        const int m = (int)(i % 7) - 3;  // -3..3, times 1/4: -0.75 .. 0.75
        v[i] = m / 4.0f;
        const uint16_t enc[] = {0xba00, 0xb800, 0xb400, 0x0000, 0x3400, 0x3800, 0x3a00};  // -0.75 -0.5 -0.25 0 0.25 0.5 0.75
        h.push_back(enc[m + 3]);
      }
      t.bytes = u16_bytes(h);
    }
    map[t.name] = p->name;
    expect.push_back(v);
    raw.push_back(t);
  }
  test::ScratchDir scratch("stitch-safetensors");
  const std::string& dir = scratch.path();
  write_file_atomic(dir + "/net.safetensors", safetensors_bytes(raw));
  write_file_atomic(dir + "/map.json", map.dump());

  std::vector<NamedTensor> ts = read_weights(dir + "/net.safetensors");
  REQUIRE(ts.size() == raw.size());
  CHECK(classes_from_tensors(parse_net_config(kStitchNet, "x"), ts) == -1);  // PyTorch names: not found before the map
  rename_tensors(ts, read_name_map(dir + "/map.json"), "net.safetensors");
  CHECK(classes_from_tensors(parse_net_config(kStitchNet, "x"), ts) == kClasses);
  auto imported = make_net(1);
  load_tensors(*imported, ts, "net.safetensors");
  auto params = imported->params();
  for (size_t i = 0; i < params.size(); ++i) {
    INFO(params[i]->name);
    CHECK(bit_identical(params[i]->value.data.to_host(), expect[i]));
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("import: f16 conversion covers subnormals, zeros, infinities and NaN") {
  // 2^-24 (smallest subnormal), 1023 * 2^-24 (largest subnormal), 2^-14 (smallest normal), -0, 1, -2,
  // 65504 (largest), +inf, NaN.
  std::string file =
      safetensors_bytes({{"x", "F16", {9}, u16_bytes({0x0001, 0x03ff, 0x0400, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x7c00, 0x7e00})}});
  std::vector<NamedTensor> ts = parse(file);
  REQUIRE(ts.size() == 1);
  const std::vector<float>& v = ts[0].values;
  CHECK(v[0] == std::ldexp(1.0f, -24));
  CHECK(v[1] == 1023 * std::ldexp(1.0f, -24));
  CHECK(v[2] == std::ldexp(1.0f, -14));
  CHECK((v[3] == 0 && std::signbit(v[3])));
  CHECK(v[4] == 1.0f);
  CHECK(v[5] == -2.0f);
  CHECK(v[6] == 65504.0f);
  CHECK((std::isinf(v[7]) && v[7] > 0));
  CHECK(std::isnan(v[8]));
  CHECK(parse(safetensors_bytes({{"y", "BF16", {2}, u16_bytes({0x3f80, 0xc0a0})}}))[0].values == std::vector<float>{1.0f, -5.0f});
}

TEST_CASE("import: bad files, names and shapes are errors that name the tensor") {
  auto net = make_net(2);
  std::vector<NamedTensor> ok;
  for (Param* p : net->params()) ok.push_back({p->name, p->shape, p->value.data.to_host()});

  auto with = [&](const std::function<void(std::vector<NamedTensor>&)>& change) {
    std::vector<NamedTensor> ts = ok;
    change(ts);
    return test::error_of<InputError>([&] { load_tensors(*net, ts, "w.safetensors"); });
  };
  CHECK(with([](auto& ts) {
          ts[2].shape = {10, 8, 3, 2};
        }) == "w.safetensors: tensor 'conv2.weight' of layer conv2: expected shape [10, 8, 3, 3], found [10, 8, 3, 2]");
  CHECK(with([](auto& ts) { ts.erase(ts.begin() + 3); }) == "w.safetensors: missing tensor 'conv2.bias' of net stitchnet");
  CHECK(with([](auto& ts) { ts[3].name = "conv2.b"; }) ==
        "w.safetensors: missing tensor 'conv2.bias' of net stitchnet (unused: 'conv2.b'; a name map may be needed)");
  CHECK(with([](auto& ts) {
          ts.push_back({"fc9.weight", {1}, {0}});
        }) == "w.safetensors: extra tensor 'fc9.weight', not parameters of net stitchnet");
  CHECK(with([](auto& ts) { ts.push_back(ts[0]); }) == "w.safetensors: tensor 'conv1.weight' appears twice");
  // Non-finite weights are refused before any checkpoint is written.
  CHECK(with([](auto& ts) { ts[1].values[2] = std::nanf(""); }) == "w.safetensors: tensor 'conv1.bias' holds NaN at flat index 2");
  std::vector<NamedTensor> two = {ok[0], ok[1]};
  CHECK(test::error_of<InputError>([&] {
          rename_tensors(two, {{"conv1.bias", "conv1.weight"}}, "f");
        }) == "f: two tensors are named 'conv1.weight' (after the name map)");

  // Malformed safetensors bytes: each is refused with what is wrong, never read out of bounds.
  const std::string good = safetensors_bytes({{"t", "F32", {2}, f32_bytes({1, 2})}});
  CHECK(parse(good)[0].values == std::vector<float>{1, 2});
  // An empty tensor is read as one (found by fuzzing: memcpy from a null pointer, UB under UBSan).
  std::vector<NamedTensor> empty = parse(safetensors_bytes({{"e", "F32", {0, 3}, ""}}));
  CHECK((empty[0].values.empty() && empty[0].shape == std::vector<int>{0, 3}));
  auto err = [](const std::string& b) { return test::error_of<InputError>([&] { parse(b); }); };
  CHECK(err(good.substr(0, 5)) == "not a safetensors file (shorter than its 8-byte header length)");
  CHECK(err(good.substr(0, 20)).find("runs past the end of the file") != std::string::npos);
  CHECK(err(good.substr(0, good.size() - 1)) == "tensor 't': data_offsets [0, 8] outside the 7-byte data section");
  CHECK(err(safetensors_bytes({{"t", "F64", {1}, std::string(8, '\0')}})) ==
        "tensor 't': dtype F64 (F32, F16 and BF16 are accepted)");
  CHECK(err(safetensors_bytes({{"t", "F32", {3}, f32_bytes({1, 2})}})) ==
        "tensor 't': 8 bytes for shape [3] of F32 (expected 12)");
  // The tensors must tile the data section (the format's rule): no shared bytes, no hole, no tail.
  auto with_offsets = [](const std::vector<std::pair<uint64_t, uint64_t>>& offsets, size_t data_bytes) {
    json h = json::object();
    for (size_t k = 0; k < offsets.size(); ++k)
      h["t" + std::to_string(k)] = {{"dtype", "F32"}, {"shape", json::array({(offsets[k].second - offsets[k].first) / 4})},
                                    {"data_offsets", json::array({offsets[k].first, offsets[k].second})}};
    const std::string head = h.dump();
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = (char)((uint64_t)head.size() >> (8 * i));
    return out + head + std::string(data_bytes, '\0');
  };
  CHECK(parse(with_offsets({{8, 16}, {0, 8}}, 16)).size() == 2);  // any order in the header
  CHECK(err(with_offsets({{0, 8}, {4, 12}}, 12)) == "tensors 't0' and 't1' share bytes of the data section");
  CHECK(err(with_offsets({{4, 12}}, 12)) == "bytes 0..4 of the data section belong to no tensor");
  CHECK(err(good + "xy") == "2 bytes after the last tensor's data belong to no tensor");
  CHECK(err(with_offsets({{0, 0}}, 0)) == "(no error)");  // an empty tensor: nothing to tile
  std::string reversed = with_offsets({{0, 8}}, 8);
  reversed.replace(reversed.find("[0,8]"), 5, "[8,0]");
  CHECK(err(reversed) == "tensor 't0': data_offsets [8, 0] end before they begin");
  std::string bad_json = good;
  bad_json[8] = '[';
  CHECK(err(bad_json) == "header is not valid JSON");
  std::string huge = safetensors_bytes({{"t", "F32", {1}, ""}});
  size_t at = huge.find("[1]");
  REQUIRE(at != std::string::npos);
  huge.replace(at, 3, "[4611686018427387904,4]");  // a product that overflows size_t
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | (uint8_t)huge[i];
  hlen += std::string("[4611686018427387904,4]").size() - 3;
  for (int i = 0; i < 8; ++i) huge[i] = (char)(hlen >> (8 * i));
  CHECK(err(huge) == "tensor 't': shape entry 4611686018427387904 is not a size (an integer from 0 to 2^31 - 1)");
  // The header as a whole: a NUL byte (the parser stopped there, bytes after it were never read) and a
  // name given twice (the parser kept the last) are refused; a shape nested 100000 deep is named by
  // type, not printed (printing recursed once per level: a stack overflow).
  auto with_header = [](const std::string& head, const std::string& data) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = (char)((uint64_t)head.size() >> (8 * i));
    return out + head + data;
  };
  const std::string t = R"("t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})";
  CHECK(err(with_header("{" + t + std::string(1, '\0') + "x}", f32_bytes({1}))) == "header holds a NUL byte (not JSON text)");
  CHECK(err(with_header("{" + t + ", " + t + "}", f32_bytes({1}))) == "tensor 't': named twice in the header");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(err(with_header(R"({"t": {"dtype": "F32", "shape": [)" + deep + R"(], "data_offsets": [0, 4]}})", f32_bytes({1}))) ==
        "tensor 't': shape entry of type array is not a size (an integer from 0 to 2^31 - 1)");
}

TEST_CASE("permute: a planted permutation that commutes with LRN leaves outputs and accuracy unchanged") {
  PatchSet data(200);
  auto a = make_net(11), b = make_net(11);
  permute_units(*b, planted());
  CHECK(!bit_identical(values(*a), values(*b)));
  // Same function: only the float32 summation order of the permuted inputs differs (~1e-7 relative).
  CHECK_ALL_CLOSE(outputs(*b, data, 32), outputs(*a, data, 32), 1e-6, 1e-5);
  Net::Metrics ma = evaluate(*a, data, 32, 1), mb = evaluate(*b, data, 32, 1);
  CHECK(mb.top1 == ma.top1);
  CHECK(std::fabs(mb.loss_sum - ma.loss_sum) <= 1e-5 * ma.loss_sum);

  // A random permutation of conv1 does not commute with norm1's window: the outputs change.
  auto c = make_net(11);
  permute_units(*c, {{"conv1", random_permutation(8, 3)}});
  CHECK(test::worst_error(outputs(*c, data, 32), outputs(*a, data, 32), 1e-6, 1e-5) > 10);

  // Bad permutations are refused.
  CHECK(test::error_of<InputError>([&] {
          permute_units(*c, {{"fc5", reversal(kClasses)}});
        }).find("layer fc5: not a permutable layer") == 0);
  CHECK(test::error_of<InputError>([&] {
          permute_units(*c, {{"conv1", {0, 1, 2}}});
        }) == "layer conv1: permutation of 3 units, the layer has 8");
  CHECK(test::error_of<InputError>([&] {
          permute_units(*c, {{"conv1", {0, 1, 2, 3, 4, 5, 6, 6}}});
        }) == "layer conv1: not a permutation of its 8 units (unit 6)");
  CHECK(permutable_layers(*a) == std::vector<std::string>{"conv1", "conv2", "conv3", "fc4"});
}

TEST_CASE("permute: grouped layers move only by whole groups, together with their inputs") {
  NetConfig cfg = parse_net_config(R"({"name": "g", "input": [1, 6, 6], "layers": [
    {"name": "conv1", "type": "conv", "num_output": 4, "kernel_size": 3},
    {"name": "conv2", "type": "conv", "num_output": 4, "kernel_size": 3, "group": 2},
    {"name": "fc3", "type": "fc", "num_output": "classes"}, {"name": "loss", "type": "softmax_loss"}]})",
                                   "g.json");
  Net net(cfg, {1, 6, 6}, 2, Device::cpu(), 1);
  net.init(1);
  const std::vector<GroupChain> chains = group_chains(net);
  REQUIRE(chains.size() == 1);
  CHECK(chains[0].layers == std::vector<std::string>{"conv1", "conv2"});
  CHECK(chains[0].groups == 2);
  CHECK(!chains[0].fixed);
  auto refusal = [&](const UnitPermutations& p) { return test::error_of<InputError>([&] { permute_units(net, p); }); };
  CHECK(refusal({{"conv1", {0, 2, 1, 3}}}) ==
        "layer conv1: the permutation splits conv2's input group 0 (2 groups of 2 units; a group's units move together, to one group)");
  CHECK(refusal({{"conv2", {2, 1, 0, 3}}}) ==
        "layer conv2: the permutation splits its channel group 0 (2 groups of 2 units; a group's units move together, to one group)");
  CHECK(refusal({{"conv1", {3, 2, 1, 0}}}) ==
        "layers conv1 and conv2: conv1's permutation takes conv2's input group 0 from group 1, but conv2 keeps its units in "
        "order (a grouped layer's units move to another group only with their inputs)");
  CHECK(refusal({{"conv1", {1, 0, 2, 3}}, {"conv2", {2, 3, 0, 1}}}) ==
        "layers conv1 and conv2: conv1's permutation takes conv2's input group 0 from group 0, but conv2's takes its group 0 "
        "from group 1 (a grouped layer's units move to another group only with their inputs)");
  // Inside the groups, and whole groups swapped with their inputs: the function is unchanged (no LRN here).
  std::vector<float> x = test::randn(36, 4);
  int32_t y = 0;
  net.set_batch(x.data(), &y, 1);
  net.forward(false, 0);
  const std::vector<float> want = net.output(3).data.to_host();
  for (const UnitPermutations& p : {UnitPermutations{{"conv1", {1, 0, 3, 2}}, {"conv2", {1, 0, 2, 3}}},
                                    UnitPermutations{{"conv1", {3, 2, 1, 0}}, {"conv2", {2, 3, 1, 0}}}}) {
    Net copy(cfg, {1, 6, 6}, 2, Device::cpu(), 1);
    copy.init(1);
    permute_units(copy, p);
    CHECK(!bit_identical(values(copy), values(net)));
    copy.set_batch(x.data(), &y, 1);
    copy.forward(false, 0);
    CHECK_ALL_CLOSE(copy.output(3).data.to_host(), want, 1e-6, 1e-5);
  }

  // A grouped first layer reads the image, whose channels keep their order: its groups stay.
  NetConfig first = parse_net_config(R"({"name": "f", "input": [2, 6, 6], "layers": [
    {"name": "conv1", "type": "conv", "num_output": 4, "kernel_size": 3, "group": 2},
    {"name": "fc2", "type": "fc", "num_output": 6}, {"name": "fc3", "type": "fc", "num_output": "classes"},
    {"name": "loss", "type": "softmax_loss"}]})",
                                     "f.json");
  Net f(first, {2, 6, 6}, 2, Device::cpu(), 1);
  f.init(2);
  REQUIRE(group_chains(f).size() == 1);
  CHECK(group_chains(f)[0].fixed);
  CHECK(test::error_of<InputError>([&] { permute_units(f, {{"conv1", {2, 3, 0, 1}}}); }) ==
        "layer conv1: conv1's inputs (the image) keep their order, but conv1's takes its group 0 from group 1 (a grouped "
        "layer's units move to another group only with their inputs)");
  CHECK_NOTHROW(permute_units(f, {{"conv1", {1, 0, 3, 2}}}));

  // CaffeNet (data/nets/caffenet.json): conv1-conv2 and conv3-conv4-conv5 move their groups together.
  NetConfig caffe = load_net_config("data/nets/caffenet.json");
  Net cn(caffe, caffe.input, 10, Device::cpu(), 1);
  const std::vector<GroupChain> cc = group_chains(cn);
  REQUIRE(cc.size() == 2);
  CHECK(cc[0].layers == std::vector<std::string>{"conv1", "conv2"});
  CHECK(cc[1].layers == std::vector<std::string>{"conv3", "conv4", "conv5"});
  CHECK((cc[0].groups == 2 && cc[1].groups == 2 && !cc[0].fixed && !cc[1].fixed));
}

TEST_CASE("permute: a chain's matching is the best one that keeps the groups (brute force over all of them)") {
  // Chains of two layers of 6 units in 2 groups of 3, some units dead: every group order and every
  // matching inside the groups is tried. Only matchings that pair as many live units as the blocks
  // allow count, as in the solver (min(live rows, live columns) pairs per block).
  const int n = 6, G = 2, B = 3;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const bool fixed = seed % 4 == 0;
    std::vector<ChainLayer> layers(2);
    for (size_t l = 0; l < layers.size(); ++l) {
      ChainLayer& c = layers[l];
      c.units = n;
      std::vector<float> r = test::randn(n * n, seed * 10 + l);
      c.C.assign(r.begin(), r.end());
      c.live_a.assign(n, 1), c.live_b.assign(n, 1);
      if (seed % 3 == 1) c.live_a[(seed + l) % n] = 0;
      if (seed % 5 == 2) c.live_b[(seed * 7 + l) % n] = 0, c.live_b[(seed + 2) % n] = 0;
    }
    double best = -INFINITY;
    for (int swap = 0; swap < (fixed ? 1 : 2); ++swap) {
      double total = 0;
      for (const ChainLayer& c : layers)
        for (int g = 0; g < G; ++g) {
          const int h = swap ? 1 - g : g;
          std::vector<int> pi = {0, 1, 2};
          int most = 0;
          double value = -INFINITY;
          do {
            int pairs = 0;
            double v = 0;
            for (int i = 0; i < B; ++i)
              if (c.live_a[g * B + i] && c.live_b[h * B + pi[i]]) ++pairs, v += c.C[(g * B + i) * n + h * B + pi[i]];
            if (pairs > most) most = pairs, value = v;
            else if (pairs == most) value = std::max(value, v);
          } while (std::next_permutation(pi.begin(), pi.end()));
          total += most ? value : 0;
        }
      best = std::max(best, total);
    }
    INFO("seed " << seed);
    const ChainMatching m = match_chain(layers, G, fixed);
    CHECK(m.objective == doctest::Approx(best).epsilon(1e-12));
    if (fixed) CHECK(m.group_order == std::vector<int64_t>{0, 1});
    double sum = 0;
    for (size_t l = 0; l < layers.size(); ++l)
      for (int i = 0; i < n; ++i) {
        const int64_t j = m.row_to_col[l][i];
        if (j < 0) continue;
        CHECK(j / B == m.group_order[i / B]);  // inside the chosen group
        CHECK((layers[l].live_a[i] && layers[l].live_b[j]));
        sum += layers[l].C[i * n + j];
      }
    CHECK(sum == doctest::Approx(m.objective).epsilon(1e-12));
  }
}

TEST_CASE("permute, interpolate, stitch: the matching of a planted permutation undoes it exactly") {
  PatchSet data(200);
  auto a = make_net(21), b = make_net(21);
  UnitPermutations p = planted();
  permute_units(*b, p);  // b's unit j = a's unit p[j]
  // bin/correlate's matching of a (rows) to b (columns): a's unit p[j] goes with b's unit j.
  LayerMatchings matching;
  for (const auto& [layer, perm] : p) {
    std::vector<int64_t>& row_to_col = matching[layer];
    row_to_col.resize(perm.size());
    for (size_t j = 0; j < perm.size(); ++j) row_to_col[perm[j]] = (int64_t)j;
  }
  UnitPermutations back = permutations_from_matching(matching, *b);
  CHECK(back.size() == 4);
  auto bp = make_net(21);
  auto set_momenta = [](Net& n) {
    for (Param* q : n.params()) q->momentum.data.from_host(test::randn(q->value.numel(), q->value.numel()));
  };
  set_momenta(*a), set_momenta(*bp);
  permute_units(*bp, p);
  permute_units(*bp, back);
  CHECK(bit_identical(values(*bp), values(*a)));              // permuting only moves floats
  CHECK(bit_identical(values(*bp, true), values(*a, true)));  // momenta move with their weights

  // Interpolating with the permuted-back copy: every point is A up to the rounding of
  // (1-t)w + tw (at most 1 ulp per weight), so the barrier is zero within float32 rounding.
  auto work = make_net(0);
  std::vector<CurvePoint> curve = interpolation_curve(*a, *bp, *work, data, 10, 32, 1);
  REQUIRE(curve.size() == 11);
  CHECK(curve[5].t == 0.5);
  for (const CurvePoint& pt : curve) {
    CHECK(std::fabs(pt.loss - curve[0].loss) <= 1e-5 * curve[0].loss);
    CHECK(pt.top1 == curve[0].top1);
  }
  CHECK(barrier_height(curve).height <= 1e-5 * curve[0].loss);
  // The end points are the nets themselves, exactly.
  std::vector<CurvePoint> ab = interpolation_curve(*a, *b, *work, data, 2, 32, 1);
  Net::Metrics ma = evaluate(*a, data, 32, 1), mb = evaluate(*b, data, 32, 1);
  CHECK(ab[0].loss == ma.loss_sum / ma.n);
  CHECK(ab[2].loss == mb.loss_sum / mb.n);

  // Stitching A with the permuted-back copy: A's accuracy at every layer.
  std::vector<StitchPoint> st = stitch_curve(*a, *bp, *work, data, 32, 1);
  REQUIRE(st.size() == 4);
  for (const StitchPoint& s : st) {
    INFO(s.layer);
    CHECK(s.top1 == (double)ma.top1 / ma.n);
    CHECK(s.loss == ma.loss_sum / ma.n);
  }
  // Stitching A with the unpermuted copy feeds A's units to the wrong inputs: the outputs change.
  stitch_params(*a, *b, "conv2", *work);
  CHECK(test::worst_error(outputs(*work, data, 32), outputs(*a, data, 32), 1e-6, 1e-5) > 10);
  // The stitched net holds A's parameters up to the cut and B's after it.
  auto pw = work->params(), pa = a->params(), pb = b->params();
  for (size_t i = 0; i < pw.size(); ++i) {
    INFO(pw[i]->name);
    CHECK(bit_identical(pw[i]->value.data.to_host(), (i < 4 ? pa : pb)[i]->value.data.to_host()));
  }
}

TEST_CASE("permute: a matching that is missing or not one-to-one is refused") {
  auto b = make_net(1);
  LayerMatchings m;
  for (const std::string& layer : permutable_layers(*b)) {
    const int units = b->layers()[b->layer_index(layer)]->cfg.num_output;
    for (int i = 0; i < units; ++i) m[layer].push_back(i);
  }
  CHECK(permutations_from_matching(m, *b).size() == 4);
  LayerMatchings missing = m;
  missing.erase("conv2");
  CHECK(test::error_of<InputError>([&] { permutations_from_matching(missing, *b); }) == "layer conv2: no matching of its units");
  // Dead units (-1) get the leftover units in order.
  LayerMatchings partial = m;
  partial["conv1"] = {3, -1, 2, 1, 4, 5, 6, -1};
  CHECK(permutations_from_matching(partial, *b).at("conv1") == std::vector<int>{3, 0, 2, 1, 4, 5, 6, 7});
  LayerMatchings twice = m;
  twice["conv1"] = {0, 1, 2, 3, 4, 5, 6, 6};
  CHECK(test::error_of<InputError>([&] { permutations_from_matching(twice, *b); }) ==
        "layer conv1: the matching is not one-to-one (unit 6)");
  LayerMatchings short_ = m;
  short_["conv1"].pop_back();
  CHECK(test::error_of<InputError>([&] { permutations_from_matching(short_, *b); }) ==
        "layer conv1: the matching has 7 entries for 8 units");
}

TEST_CASE("stitch: the barrier is the largest loss above the line between the end points") {
  std::vector<CurvePoint> c = {{0, 1.0, 0}, {0.25, 1.2, 0}, {0.5, 1.5, 0}, {0.75, 0.9, 0}, {1, 0.8, 0}};
  Barrier b = barrier_height(c);
  CHECK(b.height == doctest::Approx(1.5 - 0.9));
  CHECK(b.t == 0.5);
  // A curve below its chord has no barrier.
  CHECK(barrier_height({{0, 1.0, 0}, {0.5, 0.5, 0}, {1, 1.0, 0}}).height == 0);
  // Nets of different architectures are refused.
  NetConfig other = parse_net_config(R"({"name": "o", "input": [1, 12, 12], "layers": [
    {"name": "conv1", "type": "conv", "num_output": 4, "kernel_size": 3},
    {"name": "fc2", "type": "fc", "num_output": "classes"}, {"name": "loss", "type": "softmax_loss"}]})",
                                     "o.json");
  Net o(other, kInput, kClasses, Device::cpu(), 1);
  auto a = make_net(1);
  CHECK(test::error_of<InputError>([&] { check_same_architecture(*a, o, "A", "B"); }) ==
        "B: 4 parameters, A has 10 (different architectures)");
}

TEST_CASE("stitch --fit: the identity-initialised 1x1 layer starts at the plain stitch and learns") {
  PatchSet data(200);
  auto a = make_net(31), b = make_net(31), work = make_net(0);
  permute_units(*b, planted());  // B = A in another order: the plain stitch at conv3 feeds the wrong units
  FitOptions opt;
  opt.iterations = 0;
  opt.batch = 32;
  opt.threads = 1;
  auto fit0 = fit_stitch(*a, *b, "conv3", data, opt);
  stitch_params(*a, *b, "conv3", *work);
  // x * 1 plus zeros: the identity 1x1 conv passes its input through exactly.
  CHECK(outputs(*fit0, data, 32) == outputs(*work, data, 32));
  Net::Metrics plain = evaluate(*work, data, 32, 1);

  opt.iterations = 60;
  opt.lr = 0.05f;
  auto fit = fit_stitch(*a, *b, "conv3", data, opt);
  Net::Metrics fitted = evaluate(*fit, data, 32, 1);
  Net::Metrics ma = evaluate(*a, data, 32, 1);
  INFO("loss of the plain stitch ", plain.loss_sum / plain.n, ", fitted ", fitted.loss_sum / fitted.n, ", A ",
       ma.loss_sum / ma.n);
  // The 1x1 layer can express the inverse permutation, which gives A's own loss; trained on the
  // labels it must do at least that well, and so better than the plain (mis-ordered) stitch.
  CHECK(fitted.loss_sum < ma.loss_sum);
  CHECK(ma.loss_sum < plain.loss_sum);
  // Only the stitching layer moved.
  auto pf = fit->params(), pw = work->params();
  for (size_t i = 0, j = 0; i < pf.size(); ++i) {
    if (pf[i]->name.rfind("stitch.", 0) == 0) continue;
    INFO(pf[i]->name);
    CHECK(bit_identical(pf[i]->value.data.to_host(), pw[j++]->value.data.to_host()));
  }
  CHECK(test::error_of<InputError>([&] { fit_stitch(*a, *b, "relu1", data, opt); }).find("layer relu1: not a conv or fc layer") ==
        0);
}
