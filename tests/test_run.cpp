// Opening runs and the one set of rules for comparing nets (nn/run.h), and bin/visualize's extra
// rule (analysis/vis/unit_pairs.h): each refusal is an InputError that says what differs.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <unistd.h>

#include "tests/check.h"
#include "analysis/vis/unit_pairs.h"
#include "base/errors.h"
#include "nn/config.h"
#include "nn/net.h"
#include "nn/run.h"

using namespace cvg;
namespace fs = std::filesystem;

namespace {

// A one-conv net whose conv1 keeps the 8x8 map with kernel `k` and padding (k - 1) / 2.
NetConfig conv_net(int k) {
  const std::string json = R"({"name": "k)" + std::to_string(k) + R"(", "input": [1, 8, 8], "layers": [
    {"name": "conv1", "type": "conv", "num_output": 4, "kernel_size": )" +
                           std::to_string(k) + R"(, "pad": )" + std::to_string((k - 1) / 2) + R"(, "weight_std": 0.1, "bias": 0},
    {"name": "relu1", "type": "relu"},
    {"name": "fc2", "type": "fc", "num_output": "classes", "weight_std": 0.1},
    {"name": "loss", "type": "softmax_loss"}]})";
  return parse_net_config(json, "k" + std::to_string(k) + ".json");
}

}  // namespace

TEST_CASE("open_run: a missing path and a folder without checkpoints are refused, naming the path") {
  test::ScratchDir scratch("open-run");
  const std::string& dir = scratch.path();
  CHECK(test::error_of<InputError>([&] { open_run(dir + "/nowhere"); }) ==
        dir + "/nowhere: no such run folder or checkpoint file");
  CHECK(test::error_of<InputError>([&] { open_run(dir); }) ==
        dir + ": no intact checkpoint here (expected ckpt-*.bin; train with bin/train first)");
}

TEST_CASE("comparable nets: other input shapes and other spatial sizes are refused; other widths are not") {
  Net a(conv_net(3), {1, 8, 8}, 3, Device::cpu(), 2), b(conv_net(3), {1, 9, 9}, 3, Device::cpu(), 2);
  CHECK(test::error_of<InputError>([&] {
          comparable_layers({&a, &b}, {"conv1"}, {"A", "B"});
        }) == "A and B take different input shapes (1x8x8 vs 1x9x9)");
  NetConfig wide = conv_net(3);
  wide.layers[0].num_output = 6;
  Net w(wide, {1, 8, 8}, 3, Device::cpu(), 2);
  CHECK(comparable_layers({&a, &w}, {}, {"A", "W"}) == std::vector<std::string>{"conv1", "fc2"});
  // Same input, same names, but conv1 of c halves the map: its positions are not a's.
  NetConfig strided = conv_net(3);
  strided.layers[0].stride = 2;
  Net c(strided, {1, 8, 8}, 3, Device::cpu(), 2);
  CHECK(test::error_of<InputError>([&] {
          comparable_layers({&a, &c}, {"conv1"}, {"A", "C"});
        }).find("layer conv1: A and C differ in spatial size") == 0);
}

TEST_CASE("visualize: nets whose units see different input windows are refused before the pass") {
  // conv1 keeps the 8x8 map in both nets (comparable), but with 3x3 and 5x5 windows.
  Net a(conv_net(3), {1, 8, 8}, 3, Device::cpu(), 2), b(conv_net(5), {1, 8, 8}, 3, Device::cpu(), 2);
  REQUIRE(comparable_layers({&a, &b}, {"conv1"}) == std::vector<std::string>{"conv1"});
  VisRequest req;
  req.best_worst = false, req.units = {0};
  CHECK(test::error_of<InputError>([&] {
          plan_layer("conv1", {&a, &b}, nullptr, 0, 1, req);
        }) ==
        "layer conv1: the nets' units see different input windows (receptive field size 3, step 1 vs 5, step 1), so "
        "their patches cannot be shown side by side");
  const VisLayer L = plan_layer("conv1", {&a, &a}, nullptr, 0, 1, req);
  CHECK(L.units[0] == 4);
  CHECK(L.need[0] == std::set<int>{0});
}
