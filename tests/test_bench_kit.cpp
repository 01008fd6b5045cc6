// The logic the benchmarks rely on (bench/bench_kit.h): layer shapes from a config must be the
// shapes the Net really builds, the repeat plan must honour its bounds, and the JSON of a helper
// script must be found among other output.
#include "bench/bench_kit.h"

#include <doctest/doctest.h>

#include "nn/net.h"

using namespace cvg;
using namespace cvg::bench;

TEST_CASE("bench_kit: layer_shapes agrees with the Net on every layer of alexnet-mini") {
  const NetConfig mini = load_net_config("data/nets/alexnet-mini.json");
  for (std::vector<int> in : {std::vector<int>{1, 28, 28}, std::vector<int>{3, 32, 32}}) {
    Net net(mini, in, 10, Device::cpu(), 1);
    const auto shapes = layer_shapes(mini, in, 10);
    REQUIRE(shapes.size() == net.layers().size());
    for (size_t i = 0; i < shapes.size(); ++i) {
      INFO("layer ", shapes[i].cfg.name);
      CHECK(shapes[i].in == net.layers()[i]->in_shape);
      CHECK(shapes[i].out == net.layers()[i]->out_shape);
    }
    REQUIRE(shapes[shapes.size() - 2].cfg.name == "fc8");
    CHECK(shapes[shapes.size() - 2].cfg.num_output == 10);  // fc8's "classes" resolved
  }
}

TEST_CASE("bench_kit: layer_shapes gives CaffeNet's documented shapes and rejects a net that does not fit") {
  const NetConfig caffe = load_net_config("data/nets/caffenet.json");
  const auto s = layer_shapes(caffe, caffe.input, 1000);
  auto out = [&](const std::string& name) {
    for (const auto& l : s)
      if (l.cfg.name == name) return l.out;
    return std::vector<int>{};
  };
  CHECK(out("conv1") == std::vector<int>{96, 55, 55});
  CHECK(out("pool1") == std::vector<int>{96, 27, 27});
  CHECK(out("conv2") == std::vector<int>{256, 27, 27});
  CHECK(out("pool2") == std::vector<int>{256, 13, 13});
  CHECK(out("conv5") == std::vector<int>{256, 13, 13});
  CHECK(out("pool5") == std::vector<int>{256, 6, 6});
  CHECK(out("fc6") == std::vector<int>{4096, 1, 1});
  CHECK(out("fc8") == std::vector<int>{1000, 1, 1});
  CHECK_THROWS_AS(layer_shapes(caffe, {3, 8, 8}, 1000), InputError);  // conv1's 11x11 kernel cannot fit
}

TEST_CASE("bench_kit: plan_repeats sizes inner loops and repeats within the budget's bounds") {
  Budget b;
  b.min_repeat_ms = 2, b.budget_ms = 100, b.min_repeats = 3, b.max_repeats = 30;
  Plan p = plan_repeats(0.1, b);  // short op: 20 calls per repeat, 100 / 2 = 50 repeats capped at 30
  CHECK(p.inner == 20);
  CHECK(p.repeats == 30);
  p = plan_repeats(10, b);  // 10 ms op: one call per repeat, 10 repeats fit the budget
  CHECK(p.inner == 1);
  CHECK(p.repeats == 10);
  p = plan_repeats(500, b);  // slower than the budget: still the minimum number of repeats
  CHECK(p.inner == 1);
  CHECK(p.repeats == 3);
  p = plan_repeats(0, b);  // a zero time must not divide by zero or loop forever
  CHECK(p.inner == 10000);
  CHECK(p.repeats >= 3);
}

TEST_CASE("bench_kit: measure runs the plan and reports ordered statistics") {
  int calls = 0;
  Budget b;
  b.min_repeat_ms = 0, b.budget_ms = 0, b.min_repeats = 5, b.max_repeats = 5;
  const Timing t = measure([&] { ++calls; }, b);
  CHECK(t.repeats == 5);
  CHECK(calls == 1 + 1 + 5);  // warm-up, sizing call, 5 repeats of one call
  CHECK(t.min_ms <= t.median_ms);
  CHECK(t.median_ms <= t.max_ms);
  b.warmup = false;
  calls = 0;
  measure([&] { ++calls; }, b);
  CHECK(calls == 1 + 5);
}

TEST_CASE("bench_kit: last_json_object finds the script's JSON line among other output") {
  CHECK(last_json_object("warming up\n{\"a\": 1}\n")["a"] == 1);
  CHECK(last_json_object("{\"a\": 1}\nnoise\n{\"a\": 2}")["a"] == 2);
  CHECK(last_json_object("{\"a\": 1}\n{broken\n")["a"] == 1);
  CHECK(last_json_object("").is_null());
  CHECK(last_json_object("no json here\n[1, 2]\n").is_null());
}

TEST_CASE("bench_kit: measure_pair times its two ops in alternation, the same number of times each") {
  std::string calls;
  Budget b;
  b.min_repeat_ms = 0;  // one call per repeat
  b.min_repeats = 3, b.max_repeats = 6;
  const PairTiming t = measure_pair([&] { calls += 'a'; }, [&] { calls += 'b'; }, b);
  // Warm-up a b, one timed call each for the plan, then repeats alternating ab, ba, ab, ...
  CHECK(t.a.repeats == 6);
  CHECK(t.b.repeats == 6);
  CHECK(calls == "abab" "ab" "ba" "ab" "ba" "ab" "ba");
  CHECK(t.b_over_a > 0);
  CHECK(t.ratio_q1 <= t.b_over_a);
  CHECK(t.b_over_a <= t.ratio_q3);
  CHECK(t.a.min_ms <= t.a.median_ms);
  CHECK(t.a.median_ms <= t.a.max_ms);
}

TEST_CASE("bench_kit: quartiles by nearest rank, the median as summarize takes it") {
  const Quartiles six = quartiles({5, 1, 4, 2, 3, 6});  // sorted 1..6: indices 1, 3 (the upper middle), 4
  CHECK(six.q1 == 2);
  CHECK(six.median == 4);
  CHECK(six.median == summarize({5, 1, 4, 2, 3, 6}).median_ms);
  CHECK(six.q3 == 5);
  const Quartiles nine = quartiles({9, 8, 7, 6, 5, 4, 3, 2, 1});  // indices 2, 4, 6
  CHECK(nine.q1 == 3);
  CHECK(nine.median == 5);
  CHECK(nine.q3 == 7);
  const Quartiles one = quartiles({0.5});
  CHECK((one.q1 == 0.5 && one.median == 0.5 && one.q3 == 0.5));
}
