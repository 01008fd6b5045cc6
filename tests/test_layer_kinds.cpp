// The layer-kind registry (nn/layers.h): every kind has every entry, and each entry agrees with what
// the built layer does; an unknown kind is refused with the known ones named.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "analysis/vis/receptive_field.h"
#include "nn/config.h"
#include "nn/layers.h"
#include "nn/net.h"
#include "tests/check.h"

using namespace cvg;

namespace {

using Shape = std::vector<int>;

// One example layer per kind on a [2, 6, 6] input, with what it must do, worked out by hand.
struct Example {
  std::string fields;  // the JSON fields beyond name and type
  Shape out;
  std::vector<Shape> params;
  WindowStep step;
};

const std::map<std::string, Example>& examples() {
  static const std::map<std::string, Example> e = {
      // (6 + 2 - 3) / 2 + 1 = 3; two groups of one input channel each
      {"conv",
       {R"("num_output": 4, "kernel_size": 3, "stride": 2, "pad": 1, "group": 2)",
        {4, 3, 3},
        {{4, 1, 3, 3}, {4}},
        {3, 2, 1, false}}},
      {"relu", {"", {2, 6, 6}, {}, {1, 1, 0, false}}},
      // ceil((6 - 3) / 2) + 1 = 3
      {"maxpool", {R"("kernel_size": 3, "stride": 2)", {2, 3, 3}, {}, {3, 2, 0, false}}},
      {"lrn", {R"("local_size": 3, "alpha": 0.5)", {2, 6, 6}, {}, {1, 1, 0, false}}},
      {"fc", {R"("num_output": 5)", {5, 1, 1}, {{5, 72}, {5}}, {1, 1, 0, true}}},
      {"dropout", {R"("ratio": 0.25)", {2, 6, 6}, {}, {1, 1, 0, false}}},
      // the head's own example: the fc "classes" layer below it has 3 outputs
      {"softmax_loss", {"", {3, 1, 1}, {}, {1, 1, 0, false}}},
  };
  return e;
}

// The example layer `x` of `kind`, then fc "classes" (3) and the loss; the head alone after an fc.
NetConfig example_net(const LayerKind& kind) {
  const Example& e = examples().at(kind.name);
  std::string x = R"({"name": "x", "type": ")" + std::string(kind.name) + "\"" + (e.fields.empty() ? "" : ", " + e.fields) + "}";
  std::string layers =
      kind.head ? R"({"name": "f", "type": "fc", "num_output": "classes"}, {"name": "x", "type": "softmax_loss"})"
                : x + R"(, {"name": "f", "type": "fc", "num_output": "classes"}, {"name": "loss", "type": "softmax_loss"})";
  return parse_net_config(R"({"name": "k", "input": [2, 6, 6], "layers": [)" + layers + "]}", "k.json");
}

}  // namespace

TEST_CASE("layer kinds: every registered kind has all its entries, and they agree with the built layer") {
  std::set<std::string> names;
  int heads = 0, with_units = 0;
  for (const LayerKind& k : layer_kinds()) {
    REQUIRE(k.name != nullptr);
    const std::string name = k.name;
    CAPTURE(name);
    CHECK(names.insert(k.name).second);
    const bool all_set = k.parse && k.output && k.params && k.step && k.make;
    CHECK(all_set);
    CHECK(find_layer_kind(k.name) == &k);
    CHECK(&layer_kind(k.name) == &k);
    heads += k.head, with_units += k.has_units;
    // A new kind needs its example above: the checks below are what "all its entries" means.
    REQUIRE_MESSAGE(examples().count(k.name), "layer kind ", k.name, " has no example in tests/test_layer_kinds.cpp");
    const Example& e = examples().at(k.name);

    NetConfig cfg = example_net(k);
    const LayerConfig& lc = cfg.layers[k.head ? 1 : 0];
    REQUIRE(lc.name == "x");
    CHECK(k.output(lc, k.head ? Shape{3, 1, 1} : Shape{2, 6, 6}) == e.out);
    WindowStep s = k.step(lc);
    CHECK(s.kernel == e.step.kernel);
    CHECK(s.stride == e.step.stride);
    CHECK(s.pad == e.step.pad);
    CHECK(s.whole_input == e.step.whole_input);

    Net net(cfg, {2, 6, 6}, 3, Device::cpu(), 2);
    net.init(7);
    const int i = net.layer_index("x");
    Layer& L = *net.layers()[i];
    CHECK(L.out_shape == e.out);
    CHECK(k.params(L.cfg, L.in_shape) == e.params);
    REQUIRE(L.params.size() == e.params.size());
    for (size_t p = 0; p < e.params.size(); ++p) CHECK(L.params[p].shape == e.params[p]);
    CHECK(k.has_units == !e.params.empty());  // the units the paper compares are those of conv and fc
    CHECK(lc.has_params() == k.has_units);
    if (k.has_units)
      CHECK(net.units_index("x") == i);  // no ReLU above x here: observed at its own output
    else
      CHECK_THROWS_AS(net.units_index("x"), InputError);

    // The projection rule: in gradient mode it is the layer's backward in evaluation (exactly: the
    // same kernel call), except dropout, whose evaluation forward is the identity; it writes every
    // input value. Nothing projects through the head.
    std::vector<float> img = test::randn(2 * 72, 11);
    net.set_batch(img.data(), nullptr, 2);
    net.forward(false, 0);
    Array<float> ws(Device::cpu(), std::max<size_t>(L.workspace_floats(Device::cpu()), 1));
    RunContext ctx;
    ctx.n = 2, ctx.workspace = ws.data(), ctx.seed = 7;
    const Tensor& x = i ? net.output(i - 1) : net.input;
    Tensor dy(Device::cpu(), net.output(i).shape), dx(Device::cpu(), x.shape), back(Device::cpu(), x.shape);
    dy.data.from_host(test::randn(dy.numel(), 12));
    if (k.head) {
      CHECK_THROWS_AS(L.project(ProjectionMode::Gradient, x, net.output(i), dy, dx, ctx), std::logic_error);
      continue;
    }
    for (ProjectionMode m : {ProjectionMode::Deconv, ProjectionMode::Guided, ProjectionMode::Gradient}) {
      dx.data.from_host(std::vector<float>(dx.numel(), NAN));
      L.project(m, x, net.output(i), dy, dx, ctx);
      std::vector<float> h = dx.data.to_host();
      int not_finite = 0;
      for (float v : h) not_finite += !std::isfinite(v);
      CHECK(not_finite == 0);
    }
    if (std::string(k.name) == "dropout")
      back.data.copy_from(dy.data);
    else
      L.backward(x, net.output(i), dy, &back, ctx);
    CHECK(dx.data.to_host() == back.data.to_host());
  }
  CHECK(heads == 1);
  CHECK(with_units >= 1);
  CHECK(unit_kind_names() == "conv and fc");
}

TEST_CASE("layer kinds: an unknown kind in a net config is named, with the known ones") {
  const char* known = "(expected conv, relu, maxpool, lrn, fc, dropout, softmax_loss)";
  CHECK_THROWS_WITH_AS(parse_net_config(R"({"name": "n", "input": [1, 8, 8], "layers": [{"name": "c1", "type": "convolution"},
                                           {"name": "loss", "type": "softmax_loss"}]})",
                                        "x.json"),
                       (std::string("x.json: layer c1: unknown type 'convolution' ") + known).c_str(), InputError);
  CHECK_THROWS_WITH_AS(layer_kind("sigmoid"), (std::string("unknown layer type 'sigmoid' ") + known).c_str(), InputError);
  CHECK(find_layer_kind("") == nullptr);
  LayerConfig odd;
  odd.type = "tanh";
  CHECK_THROWS_AS(odd.has_params(), InputError);

  // Units: a layer without them is refused with the kinds that have them.
  NetConfig cfg = parse_net_config(R"({"name": "n", "input": [1, 8, 8], "layers": [
      {"name": "c1", "type": "conv", "num_output": 2, "kernel_size": 3}, {"name": "r1", "type": "relu"},
      {"name": "f", "type": "fc", "num_output": "classes"}, {"name": "loss", "type": "softmax_loss"}]})",
                                   "u.json");
  Net net(cfg, {1, 8, 8}, 3, Device::cpu(), 1);
  CHECK(net.units_index("c1") == net.layer_index("r1"));  // observed after the ReLU
  CHECK(net.units_index("f") == net.layer_index("f"));
  CHECK_THROWS_WITH_AS(net.units_index("r1"), "layer r1 is a relu layer; units live in conv and fc layers", InputError);
  CHECK(receptive_field(cfg, {1, 8, 8}, "r1").size == 3);  // relu keeps conv1's window
}
