// Ring 2: the engine end to end on the CPU — configs, a tiny net that learns, reproducibility,
// checkpoints, exact resume and the NaN stop.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "base/png.h"
#include "nn/trainer.h"
#include "kernels/init.h"
#include "kernels/rng.h"
#include "nn/checkpoint.h"
#include "base/io.h"
#include "base/log.h"
#include "nn/net.h"
#include "tests/check.h"

using namespace cvg;

namespace {

// Four classes of 1x12x12 images: a bright horizontal bar, vertical bar, diagonal, or blob, at a
// random position with noise. Learnable by a small conv net in a few hundred steps.
class TinySet : public Dataset {
 public:
  explicit TinySet(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return 4; }
  ImageShape shape() const override { return {1, 12, 12}; }
  std::string describe() const override { return "tiny test set"; }
  Normalisation normalisation() const override { return {{0, 0, 0}, {1, 1, 1}}; }
  int32_t load(size_t i, float* out, bool, uint64_t) const override {
    int label = (int)(i % 4);
    int r = 2 + (int)(rng_uniform(seed_, 1, i) * 8), c = 2 + (int)(rng_uniform(seed_, 2, i) * 8);
    for (int y = 0; y < 12; ++y)
      for (int x = 0; x < 12; ++x) {
        bool on = label == 0   ? (y == r && std::abs(x - c) <= 2)
                  : label == 1 ? (x == c && std::abs(y - r) <= 2)
                  : label == 2 ? (y - r == x - c && std::abs(y - r) <= 2)
                               : (std::abs(y - r) <= 1 && std::abs(x - c) <= 1);
        out[y * 12 + x] = (on ? 1.0f : 0.0f) + 0.2f * (rng_uniform(seed_, 3 + i, y * 12 + x) - 0.5f);
      }
    return label;
  }

 private:
  size_t n_;
  uint64_t seed_;
};

const char* kTinyNet = R"({
  "name": "tiny", "input": [1, 12, 12],
  "layers": [
    {"name": "conv1", "type": "conv", "num_output": 8, "kernel_size": 3, "pad": 1, "weight_std": "msra"},
    {"name": "relu1", "type": "relu"},
    {"name": "pool1", "type": "maxpool", "kernel_size": 3, "stride": 2},
    {"name": "norm1", "type": "lrn", "local_size": 3, "alpha": 0.0001, "beta": 0.75, "k": 1},
    {"name": "conv2", "type": "conv", "num_output": 8, "kernel_size": 3, "pad": 1, "group": 2, "weight_std": "msra"},
    {"name": "relu2", "type": "relu"},
    {"name": "fc3", "type": "fc", "num_output": 16, "weight_std": "msra", "bias": 0.1},
    {"name": "relu3", "type": "relu"},
    {"name": "drop3", "type": "dropout", "ratio": 0.2},
    {"name": "fc4", "type": "fc", "num_output": "classes", "weight_std": 0.01},
    {"name": "loss", "type": "softmax_loss"}
  ],
  "solver": {"base_lr": 0.01, "lr_policy": "step", "gamma": 0.1, "stepsize": 250, "max_iter": 300,
             "momentum": 0.9, "weight_decay": 0.0005, "batch": 16}
})";

std::vector<float> all_weights(Net& net) {
  std::vector<float> out;
  for (Param* p : net.params()) {
    auto v = p->value.data.to_host();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace

TEST_CASE("config: errors name the file, the layer and the problem") {
  auto err = [](const std::string& text) {
    try {
      parse_net_config(text, "x.json");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err("{").find("x.json: not valid JSON") == 0);
  std::string base = R"({"name":"n","input":[1,8,8],"layers":[LAYER,{"name":"loss","type":"softmax_loss"}]})";
  auto with = [&](const std::string& layer) {
    std::string s = base;
    return s.replace(s.find("LAYER"), 5, layer);
  };
  CHECK(err(with(R"({"name":"c1","type":"conv","num_output":0})")) ==
        "x.json: layer c1: 'num_output' must be a positive integer (at most 65536), got 0");
  CHECK(err(with(R"({"name":"c1","type":"convv"})")).find("x.json: layer c1: unknown type 'convv'") == 0);
  CHECK(err(with(R"({"name":"c1","type":"conv","num_output":4,"kernal_size":3})")) ==
        "x.json: layer c1: unknown field 'kernal_size'");
  CHECK(err(with(R"({"name":"n1","type":"lrn","local_size":4})")) ==
        "x.json: layer n1: 'local_size' must be odd (Caffe's across-channel LRN)");
  CHECK(err(with(R"({"name":"n1","type":"lrn","alpha":-1})")) ==
        "x.json: layer n1: 'alpha' must be >= 0 (a negative one can make the scale k + alpha/size sum x^2 negative)");
  auto solver = [&](const std::string& fields) {
    return err(R"({"name":"n","input":[1,8,8],"layers":[{"name":"loss","type":"softmax_loss"}],"solver":{)" + fields + "}}");
  };
  CHECK(solver(R"("base_lr": -1)") == "x.json: solver: 'base_lr' must be positive, got -1");
  CHECK(solver(R"("gamma": 0)") == "x.json: solver: 'gamma' must be positive, got 0");
  CHECK(solver(R"("momentum": 1)") == "x.json: solver: 'momentum' must be in [0, 1), got 1");
  CHECK(solver(R"("momentum": -0.5)") == "x.json: solver: 'momentum' must be in [0, 1), got -0.5");
  CHECK(solver(R"("weight_decay": -0.001)") == "x.json: solver: 'weight_decay' must be at least 0, got -0.001");
  // A shape problem is found when the net is built, and names the layer too.
  NetConfig c = parse_net_config(
      with(
          R"({"name":"c1","type":"conv","num_output":4,"kernel_size":3,"group":3},{"name":"f","type":"fc","num_output":"classes"})"),
      "x.json");
  try {
    Net net(c, {2, 8, 8}, 10, Device::cpu(), 2);
    FAIL("expected an error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find(
              "x.json: layer c1 (conv): input [2, 8, 8]: input channels and num_output must both divide by group 3") == 0);
  }
}

TEST_CASE("config: the lr step of a run is the config's stepsize stretched to the run's length") {
  SolverConfig s;
  s.stepsize = 1500, s.max_iter = 1875;  // the small nets: 80% of any run
  for (long long iters : {1LL, 4LL, 5LL, 20LL, 1875LL, 3750LL, 1000003LL}) CHECK(s.stepsize_for(iters) == std::max(1LL, iters * 4 / 5));
  s.stepsize = 100000, s.max_iter = 450000;  // CaffeNet's recipe: its own steps at its own length
  CHECK(s.stepsize_for(450000) == 100000);
  CHECK(s.stepsize_for(45000) == 10000);
  CHECK(s.stepsize_for(1) == 1);
  // Long runs do not overflow: iters * stepsize passes 2^63 here.
  s.stepsize = s.max_iter = 4000000000000000000LL;
  CHECK(s.stepsize_for(4000000000000000000LL) == 4000000000000000000LL);
  s.max_iter = 5;
  CHECK(s.stepsize_for(4000000000000000000LL) == std::numeric_limits<long long>::max());
}

TEST_CASE("net: the shipped configs build with the documented shapes") {
  NetConfig caffe = load_net_config("data/nets/caffenet.json");
  Net net(caffe, caffe.input, 1000, Device::cpu(), 1);
  auto shape = [&](const char* name) { return net.layers()[net.layer_index(name)]->out_shape; };
  CHECK(shape("conv1") == std::vector<int>{96, 55, 55});
  CHECK(shape("pool1") == std::vector<int>{96, 27, 27});
  CHECK(shape("conv2") == std::vector<int>{256, 27, 27});
  CHECK(shape("pool2") == std::vector<int>{256, 13, 13});
  CHECK(shape("conv5") == std::vector<int>{256, 13, 13});
  CHECK(shape("pool5") == std::vector<int>{256, 6, 6});
  CHECK(shape("fc8") == std::vector<int>{1000, 1, 1});
  // CaffeNet's parameter count with groups (60,965,224 for 1000 classes).
  CHECK(net.num_params() == 60965224);
  CHECK(net.params()[2]->shape == std::vector<int>{256, 48, 5, 5});  // conv2 grouped
  NetConfig paper = load_net_config("data/nets/caffenet-paper.json");
  Net pnet(paper, paper.input, 1000, Device::cpu(), 1);
  CHECK(pnet.params()[2]->shape == std::vector<int>{256, 96, 5, 5});  // the paper's nets: no groups
  NetConfig mini = load_net_config("data/nets/alexnet-mini.json");
  for (std::vector<int> in : {std::vector<int>{1, 28, 28}, std::vector<int>{3, 32, 32}}) {
    Net m(mini, in, 10, Device::cpu(), 2);
    CHECK(m.unit_layers() == std::vector<std::string>{"conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"});
    CHECK(&m.units("conv1") == &m.output(m.layer_index("relu1")));  // units are observed after the ReLU
  }
}

TEST_CASE("net: a tiny net learns a small synthetic set, reproducibly") {
  NetConfig cfg = parse_net_config(kTinyNet, "tiny.json");
  TinySet data(512, 7);
  TrainOptions opt;
  opt.solver = cfg.solver;
  opt.quiet = true;
  opt.loader_threads = 1;
  opt.eval_each_epoch = false;
  std::vector<std::vector<float>> weights;
  for (int run = 0; run < 2; ++run) {
    test::ScratchDir dir("tiny");
    opt.run_dir = dir.path();
    TrainResult r = train_net(cfg, data, nullptr, Device::cpu(), opt);
    CHECK(r.iterations == 300);
    Checkpoint ck = read_checkpoint(r.checkpoint);
    auto net = ck.make_net(Device::cpu(), 64);
    Net::Metrics m = evaluate(*net, data, 64, 1);
    INFO("training accuracy ", (double)m.top1 / m.n);
    CHECK((double)m.top1 / m.n > 0.90);
    weights.push_back(all_weights(*net));
  }
  // Same seed, same data order: bit-identical weights.
  REQUIRE(weights[0].size() == weights[1].size());
  CHECK(std::memcmp(weights[0].data(), weights[1].data(), weights[0].size() * sizeof(float)) == 0);
}

TEST_CASE("net: seeds change the initialisation and nothing else") {
  NetConfig cfg = parse_net_config(kTinyNet, "tiny.json");
  Net a(cfg, {1, 12, 12}, 4, Device::cpu(), 4), b(cfg, {1, 12, 12}, 4, Device::cpu(), 4);
  a.init(1), b.init(2);
  CHECK(a.seed() == 1);
  CHECK(b.seed() == 2);
  const auto pa = a.params(), pb = b.params();
  REQUIRE(pa.size() == pb.size());
  REQUIRE(!pa.empty());
  size_t gaussian = 0;
  for (size_t k = 0; k < pa.size(); ++k) {
    const Param &x = *pa[k], &y = *pb[k];
    CAPTURE(x.name);
    // Everything but the drawn values is the config's: names, shapes, multipliers, init rules.
    CHECK(x.name == y.name);
    CHECK(x.shape == y.shape);
    CHECK(x.value.shape == y.value.shape);
    CHECK(x.lr_mult == y.lr_mult);
    CHECK(x.decay_mult == y.decay_mult);
    CHECK(x.init_std == y.init_std);
    CHECK(x.init_bias == y.init_bias);
    // The solver state starts at zero for both seeds.
    for (const Param* p : {&x, &y})
      for (float m : p->momentum.data.to_host()) REQUIRE(m == 0.0f);
    const auto va = x.value.data.to_host(), vb = y.value.data.to_host();
    REQUIRE(va.size() == vb.size());
    if (x.init_std > 0) {
      ++gaussian;
      // Each Gaussian tensor is the draw keyed by (seed, its own name), whatever its position in
      // the net, so every element differs between the seeds.
      std::vector<float> want_a(va.size()), want_b(vb.size());
      cpu::fill_gaussian(va.size(), want_a.data(), 0.0f, x.init_std, 1, rng_stream(x.name.c_str()));
      cpu::fill_gaussian(vb.size(), want_b.data(), 0.0f, y.init_std, 2, rng_stream(y.name.c_str()));
      CHECK(va == want_a);
      CHECK(vb == want_b);
      size_t same = 0;
      for (size_t i = 0; i < va.size(); ++i) same += va[i] == vb[i];
      CHECK(same == 0);
    } else {
      CHECK(va == std::vector<float>(va.size(), x.init_bias));  // constants: equal for every seed
      CHECK(vb == va);
    }
  }
  CHECK(gaussian > 0);
  CHECK(gaussian < pa.size());  // the tiny net has both kinds
}

TEST_CASE("checkpoint: round trip, corruption detected, interrupted run resumes bit-identically") {
  NetConfig cfg = parse_net_config(kTinyNet, "tiny.json");
  TinySet data(256, 3);
  TrainOptions opt;
  opt.solver = cfg.solver;
  opt.solver.max_iter = 40;
  opt.quiet = true;
  opt.loader_threads = 1;
  opt.eval_each_epoch = false;
  opt.snapshot = 10;

  test::ScratchDir straight_dir("straight"), resumed_dir("resumed");
  opt.run_dir = straight_dir.path();
  TrainResult straight = train_net(cfg, data, nullptr, Device::cpu(), opt);

  opt.run_dir = resumed_dir.path();
  opt.stop_at = 20;
  train_net(cfg, data, nullptr, Device::cpu(), opt);
  CHECK(list_checkpoints(opt.run_dir).size() == 4);  // iterations 0 (untrained), 10, 16 (epoch end) and 20
  {  // The iteration-0 checkpoint is the untrained net of this seed: the null model of bin/correlate.
    Checkpoint ck0 = read_checkpoint(opt.run_dir + "/" + checkpoint_name(0));
    CHECK(ck0.info.iteration == 0);
    CHECK(ck0.info.extra.value("untrained", false));
    std::unique_ptr<Net> loaded = ck0.make_net(Device::cpu(), 4), fresh = ck0.make_net(Device::cpu(), 4);
    fresh->init(opt.seed);
    CHECK(all_weights(*fresh) == all_weights(*loaded));
  }
  // Damage the newest checkpoint: resume reports it and falls back to the one before (iteration 10).
  std::string newest = list_checkpoints(opt.run_dir)[0];
  {
    std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x55');
  }
  CHECK_THROWS_WITH_AS(read_checkpoint(newest), (newest + ": checksum mismatch (file damaged or truncated)").c_str(), InputError);
  opt.stop_at = -1;
  opt.resume = true;
  TrainResult resumed = train_net(cfg, data, nullptr, Device::cpu(), opt);
  CHECK(resumed.iterations == 40);

  Checkpoint a = read_checkpoint(straight.checkpoint), b = read_checkpoint(resumed.checkpoint);
  CHECK(a.info.iteration == 40);
  REQUIRE(a.payload.size() == b.payload.size());
  CHECK(std::memcmp(a.payload.data(), b.payload.data(), a.payload.size() * sizeof(float)) == 0);

  // Truncation and bad magic are reported with the file name.
  std::string trunc = opt.run_dir + "/trunc.bin";
  {
    auto bytes = read_file(straight.checkpoint);
    write_file_atomic(trunc, bytes.data(), bytes.size() / 2);
  }
  CHECK_THROWS_WITH_AS(read_checkpoint(trunc), doctest::Contains((trunc + ": ").c_str()), InputError);
  write_file_atomic(trunc, std::string("hello world, not a checkpoint at all"));
  CHECK_THROWS_WITH_AS(read_checkpoint(trunc), (trunc + ": not a convergent checkpoint (bad magic)").c_str(), InputError);
}

TEST_CASE("trainer: a resumed run goes on with its checkpoint's schedule; other data, data seed or batch are refused") {
  NetConfig cfg = parse_net_config(kTinyNet, "tiny.json");
  TinySet data(256, 3);
  TrainOptions opt;
  opt.solver = cfg.solver;
  opt.solver.max_iter = 30, opt.solver.stepsize = 8, opt.solver.base_lr = 0.02f, opt.solver.momentum = 0.8f;
  opt.quiet = true;
  opt.loader_threads = 1;
  opt.eval_each_epoch = false;
  opt.data_spec = "tiny", opt.order_seed = 5;
  test::ScratchDir straight_dir("sched-straight"), resumed_dir("sched-resumed");
  opt.run_dir = straight_dir.path();
  const TrainResult straight = train_net(cfg, data, nullptr, Device::cpu(), opt);

  opt.run_dir = resumed_dir.path();
  opt.stop_at = 12;
  train_net(cfg, data, nullptr, Device::cpu(), opt);
  const Checkpoint at12 = read_checkpoint(list_checkpoints(opt.run_dir)[0]);
  REQUIRE(at12.info.iteration == 12);
  REQUIRE(at12.info.solver);
  CHECK(at12.info.solver->batch == opt.solver.batch);
  CHECK(at12.info.solver->stepsize == 8);
  CHECK(at12.info.solver->base_lr == 0.02f);
  CHECK(at12.info.solver->momentum == 0.8f);
  CHECK(at12.info.solver->weight_decay == opt.solver.weight_decay);

  // What bin/train would pass on `--resume` without the flags: the config's lr and momentum, and a
  // step stretched to the new length. The checkpoint's schedule wins: the same bits as the straight run.
  opt.stop_at = -1, opt.resume = true;
  opt.solver.stepsize = 24, opt.solver.base_lr = cfg.solver.base_lr, opt.solver.momentum = cfg.solver.momentum;
  auto mismatch = [&](auto change, const std::string& what) {
    TrainOptions o = opt;
    change(o);
    CHECK_THROWS_WITH_AS(train_net(cfg, data, nullptr, Device::cpu(), o), doctest::Contains(what.c_str()), InputError);
  };
  mismatch([](TrainOptions& o) { o.data_spec = "other"; }, "was trained with data tiny, not other: resume with --data tiny");
  mismatch([](TrainOptions& o) { o.order_seed = 6; }, "was trained with data seed 5, not 6");
  mismatch([](TrainOptions& o) { o.solver.batch *= 2; }, "was trained with batch " + std::to_string(opt.solver.batch));
  const TrainResult resumed = train_net(cfg, data, nullptr, Device::cpu(), opt);
  CHECK(resumed.trained == 18);
  const Checkpoint a = read_checkpoint(straight.checkpoint), b = read_checkpoint(resumed.checkpoint);
  REQUIRE(a.payload.size() == b.payload.size());
  CHECK(std::memcmp(a.payload.data(), b.payload.data(), a.payload.size() * sizeof(float)) == 0);

  // A flag given on resume replaces its part of the schedule, and later checkpoints keep it.
  opt.solver.max_iter = 34, opt.solver.momentum = 0.5f, opt.given.momentum = true;
  CHECK(train_net(cfg, data, nullptr, Device::cpu(), opt).trained == 4);
  const Checkpoint c = read_checkpoint(list_checkpoints(opt.run_dir)[0]);
  CHECK(c.info.solver->momentum == 0.5f);
  CHECK(c.info.solver->stepsize == 8);
  // Resumed at the end: nothing to train, and the result says so.
  CHECK(train_net(cfg, data, nullptr, Device::cpu(), opt).trained == 0);
}

TEST_CASE("trainer: a NaN loss stops the run with a clear message, keeping the last good checkpoint") {
  NetConfig cfg = parse_net_config(kTinyNet, "tiny.json");
  TinySet data(256, 3);
  TrainOptions opt;
  opt.solver = cfg.solver;
  opt.solver.max_iter = 200;
  opt.quiet = true;
  opt.loader_threads = 1;
  opt.eval_each_epoch = false;
  opt.snapshot = 1;
  test::ScratchDir dir("nan");
  opt.run_dir = dir.path();
  opt.label = "seed 1";
  opt.stop_at = 3;  // three sane steps, then a learning rate that diverges at once
  train_net(cfg, data, nullptr, Device::cpu(), opt);
  opt.stop_at = -1;
  opt.resume = true;
  opt.solver.base_lr = 1e6f, opt.given.base_lr = true;  // as --lr 1e6 replaces the checkpoint's
  try {
    train_net(cfg, data, nullptr, Device::cpu(), opt);
    FAIL("expected the run to stop");
  } catch (const DivergedError& e) {
    std::string msg = e.what();
    CHECK(msg.find("seed 1: training loss became") == 0);
    CHECK(msg.find("Last good checkpoint: " + opt.run_dir + "/ckpt-") != std::string::npos);
    // the checkpoint it names reads back fine
    std::string path = msg.substr(msg.find(opt.run_dir));
    CHECK_NOTHROW(read_checkpoint(path));
  }
}

TEST_CASE("train_nets: nets trained at once are the bits of nets trained one after another; an error stops the rest") {
  NetConfig cfg = parse_net_config(kTinyNet, "tiny.json");
  TinySet data(256, 3);
  test::ScratchDir scratch("at-once");
  const std::string& dir = scratch.path();
  auto make_runs = [&](const std::string& sub, long long iters) {
    std::vector<TrainOptions> runs;
    for (uint64_t seed : {1, 2, 3}) {
      TrainOptions o;
      o.solver = cfg.solver, o.solver.max_iter = iters;
      o.loader_threads = 1, o.eval_each_epoch = false;
      o.seed = seed, o.label = "seed " + std::to_string(seed);
      o.run_dir = dir + "/" + sub + "/seed" + std::to_string(seed);
      runs.push_back(o);
    }
    return runs;
  };
  std::vector<std::string> progress;  // the progress lines drawn while nets train at once
  set_log_sink([&](LogLevel l, const std::string& m) {
    if (l == LogLevel::progress) progress.push_back(m);
  });
  std::map<uint64_t, std::vector<float>> weights[2];
  for (int jobs : {1, 2}) {
    std::vector<TrainOptions> runs = make_runs("jobs" + std::to_string(jobs), 30);
    for (TrainOptions& o : runs) o.quiet = jobs == 1;
    train_nets(cfg, data, nullptr, Device::cpu(), runs, jobs, [&](const TrainOptions& o, const TrainResult& r) {
      CHECK_FALSE(r.interrupted);
      CHECK(r.iterations == 30);
      weights[jobs - 1][o.seed] = read_checkpoint(r.checkpoint).payload;
    });
  }
  REQUIRE(weights[0].size() == 3);
  CHECK(weights[0][1] != weights[0][2]);  // the seeds differ, so equality below means something
  CHECK(weights[0] == weights[1]);
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back().find("seeds 1,2,3 [########################] 90/90") != std::string::npos);

  // Seed 2 diverges at once: the error comes out, seed 1 (still running) stops with a checkpoint
  // it can resume from, and seed 3 never starts.
  std::vector<TrainOptions> runs = make_runs("diverge", 20000);
  runs[1].solver.base_lr = 1e6f;
  for (TrainOptions& o : runs) o.quiet = true;
  std::vector<uint64_t> finished;
  CHECK_THROWS_AS(train_nets(cfg, data, nullptr, Device::cpu(), runs, 2,
                             [&](const TrainOptions& o, const TrainResult& r) {
                               finished.push_back(o.seed);
                               CHECK(r.interrupted);
                               CHECK(r.iterations < 20000);
                               CHECK_NOTHROW(read_checkpoint(r.checkpoint));
                             }),
                  DivergedError);
  CHECK(finished == std::vector<uint64_t>{1});
  CHECK(list_checkpoints(runs[2].run_dir).empty());
  set_log_sink(nullptr);
}

TEST_CASE("train: CaffeNet trains on a small ImageNet-layout folder (two steps, CPU)") {
  // A generated folder: 2 classes x 3 images of 300x260 (non-square: resize to 256 on the short
  // side, then 227 crops), in the train/ val/ layout.
  test::ScratchDir scratch("folder");  // two CaffeNet checkpoints: ~0.9 GB until the test ends
  const std::string& dir = scratch.path();
  for (const char* split : {"train", "val"})
    for (int cls = 0; cls < 2; ++cls) {
      std::string d = dir + "/" + split + "/class" + std::to_string(cls);
      make_dirs(d);
      for (int i = 0; i < 3; ++i) {
        Image img(300, 260);
        for (int y = 0; y < img.h; ++y)
          for (int x = 0; x < img.w; ++x) {
            uint8_t* p = img.at(x, y);
            p[0] = (uint8_t)(cls ? x : y), p[1] = (uint8_t)(40 * i), p[2] = (uint8_t)((x + y) * (cls + 1));
          }
        write_png(d + "/img" + std::to_string(i) + ".png", img);
      }
    }
  auto train = open_dataset("folder:" + dir, "train");
  auto val = open_dataset("folder:" + dir, "test");
  REQUIRE(train->size() == 6);
  CHECK(train->shape().c == 3);
  CHECK(train->shape().h == 227);
  NetConfig cfg = load_net_config("data/nets/caffenet.json");
  TrainOptions opt;
  opt.solver = cfg.solver;
  opt.solver.batch = 2;
  opt.solver.max_iter = 2;
  opt.quiet = true;
  opt.loader_threads = 1;
  opt.run_dir = dir + "/run";
  TrainResult r = train_net(cfg, *train, val.get(), Device::cpu(), opt);
  CHECK(r.iterations == 2);
  CHECK(std::isfinite(r.train_loss));
  // fc8 has as many outputs as the folder has classes, and the checkpoint reads back.
  Checkpoint ck = read_checkpoint(r.checkpoint);
  CHECK(ck.classes == 2);
  CHECK(ck.params().back().shape == std::vector<int>{2});
}

// Ring 3 for the whole engine: the tiny net (every layer kind: conv with groups, ReLU, max pool, LRN,
// fc, dropout, softmax loss) on the GPU and on the CPU from the same seed and batch. Every layer's
// output and gradient, every parameter gradient, and the weights after one SGD step agree.
// Tolerance: the kernels' own families agree to ~1e-5 relative (float32 sums in different orders,
// FMA contraction); through a few layers that grows to ~1e-4, so atol 1e-4 on O(1) activations and
// rtol 1e-3 leave margin while any wrong index or missing term is off by O(1).
TEST_CASE("net: whole-net forward, backward and SGD step on the GPU match the CPU") {
  if (!test::gpu_or_skip()) return;
  NetConfig cfg = parse_net_config(kTinyNet, "tiny.json");
  const int n = 6;
  TinySet data(n, 11);
  std::vector<float> x((size_t)n * 144);
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = data.load(i, x.data() + (size_t)i * 144, false, 0);
  Net cpu_net(cfg, {1, 12, 12}, 4, Device::cpu(), n), gpu_net(cfg, {1, 12, 12}, 4, Device{Device::CUDA, 0}, n);
  for (Net* net : {&cpu_net, &gpu_net}) {
    net->init(5);
    net->set_batch(x.data(), labels.data(), n);
    net->forward(true, 3);
    net->backward(3);
  }
  double worst = 0;
  for (size_t l = 0; l < cpu_net.layers().size(); ++l) {
    CAPTURE(l);
    const auto out_c = cpu_net.output((int)l).data.to_host(), out_g = gpu_net.output((int)l).data.to_host();
    CHECK_ALL_CLOSE(out_g, out_c, 1e-4, 1e-3);
    if (l + 1 == cpu_net.layers().size()) break;  // the loss's own output gets no gradient
    const auto grad_c = cpu_net.grad((int)l).data.to_host(), grad_g = gpu_net.grad((int)l).data.to_host();
    CHECK_ALL_CLOSE(grad_g, grad_c, 1e-4, 1e-3);
    worst = std::max({worst, test::worst_error(out_g, out_c, 1e-4, 1e-3), test::worst_error(grad_g, grad_c, 1e-4, 1e-3)});
  }
  const Net::Metrics mc = cpu_net.metrics(), mg = gpu_net.metrics();
  CHECK(std::fabs(mg.loss_sum - mc.loss_sum) <= 1e-4 * n);
  CHECK(mg.top1 == mc.top1);
  auto pc = cpu_net.params(), pg = gpu_net.params();
  REQUIRE(pc.size() == pg.size());
  for (Net* net : {&cpu_net, &gpu_net}) net->sgd_step(0.01f, 0.9f, 0.0005f);
  for (size_t i = 0; i < pc.size(); ++i) {
    CAPTURE(pc[i]->name);
    const auto gc = pc[i]->grad.data.to_host(), gg = pg[i]->grad.data.to_host();
    CHECK_ALL_CLOSE(gg, gc, 1e-4, 1e-3);
    const auto wc = pc[i]->value.data.to_host(), wg = pg[i]->value.data.to_host();
    CHECK_ALL_CLOSE(wg, wc, 1e-5, 1e-5);  // w - lr * (grad + ...): lr 0.01 times the grads' atol, with 10x margin
    worst = std::max(worst, test::worst_error(gg, gc, 1e-4, 1e-3));
  }
  test::record_gpu_result("whole net forward+backward+sgd", worst);
}
