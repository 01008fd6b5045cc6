// Ring 4: hostile input and faults (issue 13). One test per defect found by the hostile-input
// review, each failing before its fix; the tool-level ones (signals, locks between processes,
// flags) are in scripts/san_pipeline.sh.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "tests/check.h"
#include "analysis/stats/correlate.h"
#include "nn/trainer.h"
#include "data/dataset.h"
#include "kernels/rng.h"
#include "nn/checkpoint.h"
#include "base/io.h"

using namespace cvg;
using json = nlohmann::json;

namespace {

// Noise images of any shape, label i % 2: enough to build, train and evaluate a net.
class NoiseSet : public Dataset {
 public:
  NoiseSet(size_t n, int c, int h, int w) : n_(n), s_{c, h, w} {}
  size_t size() const override { return n_; }
  int num_classes() const override { return 2; }
  ImageShape shape() const override { return s_; }
  std::string describe() const override { return "noise " + std::to_string(s_.h) + "x" + std::to_string(s_.w); }
  Normalisation normalisation() const override { return {{0, 0, 0}, {1, 1, 1}}; }
  int32_t load(size_t i, float* out, bool, uint64_t) const override {
    for (size_t k = 0; k < s_.size(); ++k) out[k] = rng_uniform(7, i, k) - 0.5f + (i % 2 ? 0.3f : -0.3f);
    return (int32_t)(i % 2);
  }

 private:
  size_t n_;
  ImageShape s_;
};

const char* kNet = R"({"name": "hard", "input": [1, 8, 8], "layers": [
  {"name": "conv1", "type": "conv", "num_output": 4, "kernel_size": 3, "weight_std": "msra"},
  {"name": "relu1", "type": "relu"},
  {"name": "fc2", "type": "fc", "num_output": "classes", "weight_std": 0.1},
  {"name": "loss", "type": "softmax_loss"}],
  "solver": {"base_lr": 0.01, "batch": 8, "max_iter": 12, "stepsize": 100}})";

TrainOptions quiet_options(const NetConfig& cfg, const std::string& dir) {
  TrainOptions opt;
  opt.solver = cfg.solver;
  opt.quiet = true;
  opt.loader_threads = 1;
  opt.eval_each_epoch = false;
  opt.run_dir = dir;
  opt.label = "seed 1";
  return opt;
}

// Rewrites a checkpoint's JSON header (and version) with a valid checksum: a crafted file that
// only the header checks can refuse.
void craft(const std::string& from, const std::string& to, const std::function<void(json&)>& edit, uint32_t version = 1) {
  std::vector<char> b = read_file(from);
  uint64_t hlen;
  std::memcpy(&hlen, b.data() + 12, 8);
  json h = json::parse(b.begin() + 20, b.begin() + 20 + (ptrdiff_t)hlen);
  edit(h);
  std::string head = h.dump(), out(b.data(), 8);
  out.append(reinterpret_cast<const char*>(&version), 4);
  uint64_t n = head.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += head;
  out.append(b.data() + 20 + hlen, b.size() - 24 - hlen);
  uint32_t crc = (uint32_t)crc32(0L, reinterpret_cast<const Bytef*>(out.data()), (uInt)out.size());
  out.append(reinterpret_cast<const char*>(&crc), 4);
  write_file_atomic(to, out);
}

std::string one_checkpoint(const std::string& dir) {
  NetConfig cfg = parse_net_config(kNet, "hard.json");
  NoiseSet data(64, 1, 8, 8);
  TrainOptions opt = quiet_options(cfg, dir);
  opt.solver.max_iter = 2;
  std::string ck = train_net(cfg, data, nullptr, Device::cpu(), opt).checkpoint;
  std::remove((dir + "/" + checkpoint_name(0)).c_str());  // the untrained net's checkpoint: leave one
  return ck;
}

}  // namespace

TEST_CASE("harden 1: a test split of another image shape is refused, and set_batch checks the sample shape") {
  NetConfig cfg = parse_net_config(kNet, "hard.json");
  NoiseSet train(64, 1, 8, 8), test_small(16, 1, 7, 7), test_big(16, 1, 9, 9);
  test::ScratchDir opt_dir("harden-shape");
  TrainOptions opt = quiet_options(cfg, opt_dir.path());
  for (const NoiseSet* t : {&test_small, &test_big}) {
    std::string msg = test::error_of([&] { train_net(cfg, train, t, Device::cpu(), opt); });
    CHECK(msg.find("does not match the training set") != std::string::npos);
  }
  CHECK(list_checkpoints(opt.run_dir).empty());  // refused before any training
  Net net(cfg, {1, 8, 8}, 2, Device::cpu(), 4);
  CHECK_THROWS_AS(evaluate(net, test_big, 4, 0), InputError);
  std::vector<float> x(4 * 81);
  CHECK_THROWS_WITH_AS(net.set_batch(x.data(), nullptr, 4, {1, 9, 9}),
                       "hard.json: samples of shape 1x9x9 fed to a net built for 1x8x8", InputError);
}

TEST_CASE("harden 2: after divergence the named checkpoint holds finite weights and resumes at a sane lr") {
  NetConfig cfg = parse_net_config(kNet, "hard.json");
  NoiseSet data(64, 1, 8, 8);
  test::ScratchDir opt_dir("harden-diverge");
  TrainOptions opt = quiet_options(cfg, opt_dir.path());
  opt.solver.base_lr = 3e38f;
  opt.solver.max_iter = 50;
  opt.snapshot = 1;
  std::string msg = test::error_of([&] { train_net(cfg, data, nullptr, Device::cpu(), opt); });
  REQUIRE(msg.find("Last good checkpoint: ") != std::string::npos);
  for (const std::string& path : list_checkpoints(opt.run_dir)) {
    Checkpoint ck = read_checkpoint(path);
    for (float v : ck.payload) REQUIRE(std::isfinite(v));
  }
  if (msg.find("Last good checkpoint: none") == std::string::npos) {
    opt.solver.base_lr = 0.01f, opt.given.base_lr = true;  // as --lr 0.01 replaces the checkpoint's
    opt.resume = true;
    opt.solver.max_iter = read_checkpoint(list_checkpoints(opt.run_dir)[0]).info.iteration + 5;
    CHECK(train_net(cfg, data, nullptr, Device::cpu(), opt).iterations == opt.solver.max_iter);
  }
  // save_checkpoint itself refuses NaN weights and writes nothing.
  Net net(cfg, {1, 8, 8}, 2, Device::cpu(), 4);
  net.init(1);
  std::vector<float> w = net.params()[0]->value.data.to_host();
  w[3] = NAN;
  net.params()[0]->value.data.from_host(w);
  std::string path = opt.run_dir + "/nan.bin";
  CHECK_THROWS_AS(save_checkpoint(path, net, CheckpointInfo()), NonFiniteError);
  CHECK(!file_exists(path));
}

TEST_CASE("harden 4: a run folder is locked; a second writer fails naming the holder's pid") {
  test::ScratchDir scratch("harden-lock");
  const std::string& dir = scratch.path();
  {
    FolderLock first(dir);
    std::string msg = test::error_of([&] { FolderLock second(dir); });
    CHECK(msg == dir + ": in use by another process (pid " + std::to_string(::getpid()) + " holds " + dir + "/.lock)");
    NetConfig cfg = parse_net_config(kNet, "hard.json");
    NoiseSet data(64, 1, 8, 8);
    CHECK_THROWS_AS(train_net(cfg, data, nullptr, Device::cpu(), quiet_options(cfg, dir)), InputError);
  }
  CHECK_NOTHROW(FolderLock again(dir));  // released with its holder
}

TEST_CASE("harden 5: resume stops when every checkpoint is damaged or newer, unless forced") {
  test::ScratchDir scratch("harden-resume");
  const std::string& dir = scratch.path();
  std::string ck = one_checkpoint(dir);
  NetConfig cfg = parse_net_config(kNet, "hard.json");
  NoiseSet data(64, 1, 8, 8);
  TrainOptions opt = quiet_options(cfg, dir);
  opt.resume = true;
  // Newer format: named as such, never "damaged", left untouched.
  craft(
      ck, ck, [](json&) {}, 2);
  std::vector<char> before = read_file(ck);
  std::string msg = test::error_of([&] { train_net(cfg, data, nullptr, Device::cpu(), opt); });
  CHECK(msg.find("written by a newer convergent (checkpoint format version 2") != std::string::npos);
  CHECK(read_file(ck) == before);
  // Every checkpoint damaged: an error, the files and the log kept.
  write_file_atomic(ck, std::string("damaged"));
  msg = test::error_of([&] { train_net(cfg, data, nullptr, Device::cpu(), opt); });
  CHECK(msg.find("all 1 checkpoints are damaged") != std::string::npos);
  CHECK(read_file(ck).size() == 7);
  CHECK(file_exists(dir + "/log.jsonl"));
  // --force: starts over, the damaged file and the old log replaced.
  opt.force = true;
  TrainResult r = train_net(cfg, data, nullptr, Device::cpu(), opt);
  CHECK(r.iterations == opt.solver.max_iter);
  CHECK(!file_exists(ck));
  CHECK_NOTHROW(read_checkpoint(r.checkpoint));
}

TEST_CASE("harden 6: counts are bounded: loader threads, declared image sizes") {
  NoiseSet data(64, 1, 8, 8);
  CHECK_THROWS_AS(Loader(data, 8, false, false, false, 0, 100000), std::logic_error);
  // A PNG header declaring 10000x10000 pixels (100 Mpixel) is refused before any pixel is decoded.
  test::ScratchDir scratch("harden-bigpng");
  const std::string& dir = scratch.path();
  for (const char* cls : {"a", "b"}) {
    make_dirs(dir + "/" + cls);
    std::string png("\x89PNG\r\n\x1a\n", 8);
    auto chunk = [&](const char* type, const std::string& body) {
      uint32_t n = (uint32_t)body.size();
      for (int k = 3; k >= 0; --k) png += (char)(n >> (8 * k));
      std::string tb = std::string(type, 4) + body;
      png += tb;
      uint32_t crc = (uint32_t)crc32(0L, reinterpret_cast<const Bytef*>(tb.data()), (uInt)tb.size());
      for (int k = 3; k >= 0; --k) png += (char)(crc >> (8 * k));
    };
    chunk("IHDR", std::string("\x00\x00\x27\x10\x00\x00\x27\x10\x08\x02\x00\x00\x00", 13));
    chunk("IEND", "");
    for (int i = 0; i < 2; ++i) write_file_atomic(dir + "/" + cls + "/" + std::to_string(i) + ".png", png);
  }
  auto ds = open_dataset("folder:" + dir, "train");
  std::vector<float> out(ds->shape().size());
  std::string msg = test::error_of([&] { ds->load(0, out.data(), false, 0); });
  CHECK(msg.find("image of 10000x10000 pixels is larger than the 64 Mpixel limit") != std::string::npos);
}

TEST_CASE("harden 7: names from files are one safe path component") {
  std::string cfg = kNet;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = cfg;
    s.replace(s.find(from), from.size(), to);
    return test::error_of([&] { parse_net_config(s, "x.json"); });
  };
  CHECK(with("\"name\": \"hard\"", "\"name\": \"../../escape\"") == "x.json: net name '../../escape' must not start with '.'");
  CHECK(with("\"name\": \"hard\"", "\"name\": \"a/b\"").find("net name 'a/b' may hold only") != std::string::npos);
  CHECK(with("\"conv1\"", "\"c/../../x\"").find("layer name 'c/../../x' may hold only") != std::string::npos);
  // A checkpoint with a valid checksum and a parameter named ../../x is refused on reading.
  test::ScratchDir scratch("harden-names");
  const std::string& dir = scratch.path();
  std::string ck = one_checkpoint(dir);
  craft(ck, dir + "/evil.bin", [](json& h) { h["params"][0]["name"] = "../../x"; });
  CHECK(test::error_of([&] { read_checkpoint(dir + "/evil.bin"); }) ==
        dir + "/evil.bin: parameter name '../../x' must not start with '.'");
  CHECK_NOTHROW(check_path_component("conv1.weight", "parameter name", "f"));
}

TEST_CASE("harden 8: config integers must be integers in range, naming the field") {
  auto err = [](const std::string& from, const std::string& to) {
    std::string s = kNet;
    s.replace(s.find(from), from.size(), to);
    return test::error_of([&] { parse_net_config(s, "x.json"); });
  };
  CHECK(err("\"num_output\": 4,", "\"num_output\": 4294967328,") ==
        "x.json: layer conv1: 'num_output' must be a positive integer (at most 65536), got 4294967328");
  CHECK(err("\"kernel_size\": 3", "\"kernel_size\": 2.5") ==
        "x.json: layer conv1: 'kernel_size' must be an integer in [1, 4096], got 2.5");
  CHECK(err("\"kernel_size\": 3", "\"kernel_size\": 3, \"stride\": 4294967297").find("'stride' must be an integer") !=
        std::string::npos);
  CHECK(err("\"batch\": 8", "\"batch\": 4294967304") ==
        "x.json: solver: 'batch' must be an integer in [1, 65536], got 4294967304");
  CHECK(err("\"kernel_size\": 3", "\"kernel_size\": 3, \"pad\": 100000").find("'pad' must be an integer in [0, 4096]") !=
        std::string::npos);
  CHECK(err("\"input\": [1, 8, 8]", "\"input\": [1, -8, 8]").find("'input' must be an integer") != std::string::npos);
  CHECK(err("\"base_lr\": 0.01", "\"base_lr\": 1e39").find("'base_lr' must be a finite number") != std::string::npos);
}

TEST_CASE("harden 9: writes are checked: a full disk fails the log append and the run") {
  CHECK_THROWS_WITH_AS(append_file("/dev/full", "x\n"), "/dev/full: write failed (No space left on device)", InputError);
  test::ScratchDir scratch("harden-full");
  const std::string& dir = scratch.path();
  REQUIRE(::symlink("/dev/full", (dir + "/log.jsonl").c_str()) == 0);
  NetConfig cfg = parse_net_config(kNet, "hard.json");
  NoiseSet data(64, 1, 8, 8);
  TrainOptions opt = quiet_options(cfg, dir);
  opt.force = true;
  CHECK(test::error_of([&] { train_net(cfg, data, nullptr, Device::cpu(), opt); }).find("No space left on device") !=
        std::string::npos);
}

TEST_CASE("harden 10: messages name the bad input: a folder for a file, negative iterations and shapes") {
  test::ScratchDir scratch("harden-msgs");
  const std::string& dir = scratch.path();
  CHECK_THROWS_WITH_AS(read_file(dir), (dir + ": is a folder, expected a file").c_str(), InputError);
  CHECK_THROWS_WITH_AS(load_net_config(dir), (dir + ": is a folder, expected a file").c_str(), InputError);
  CHECK_THROWS_WITH_AS(read_checkpoint(dir), (dir + ": is a folder, expected a file").c_str(), InputError);
  std::string ck = one_checkpoint(dir);
  craft(ck, dir + "/neg.bin", [](json& h) { h["iteration"] = -5; });
  CHECK(test::error_of([&] { read_checkpoint(dir + "/neg.bin"); }) == dir + "/neg.bin: negative iteration -5");
  craft(ck, dir + "/shape.bin", [](json& h) { h["params"][0]["shape"] = {-1, 4}; });
  CHECK(test::error_of([&] {
          read_checkpoint(dir + "/shape.bin");
        }).find("shape entries must be positive integers up to 2^30, got -1") != std::string::npos);
  craft(ck, dir + "/offset.bin", [](json& h) { h["params"][1]["offset"] = (uint64_t)-8; });
  CHECK_THROWS_AS(read_checkpoint(dir + "/offset.bin"), InputError);
  // A huge pad (or layer) is named with its layer before anything is allocated.
  std::string cfg = kNet;
  cfg.replace(cfg.find("\"num_output\": 4,"), 16, "\"num_output\": 65536, \"pad\": 4096,");
  NetConfig big = parse_net_config(cfg, "big.json");
  std::string msg = test::error_of([&] { Net net(big, {1, 8, 8}, 2, Device::cpu(), 64); });
  CHECK_MESSAGE(msg.find("big.json: layer conv1: its output of 8198x8198 (pad 4096) would take the net to") == 0, msg);
}

TEST_CASE("harden 11: a stop request finishes the step, checkpoints, and the next start removes stale temporaries") {
  NetConfig cfg = parse_net_config(kNet, "hard.json");
  NoiseSet data(64, 1, 8, 8);
  test::ScratchDir scratch("harden-stop");
  const std::string& dir = scratch.path();
  write_file_atomic(dir + "/ckpt-000000003.bin.tmp.99999", std::string("left by kill -9"));
  TrainOptions opt = quiet_options(cfg, dir);
  std::atomic<bool> stop{true};
  opt.stop_requested = &stop;
  TrainResult r = train_net(cfg, data, nullptr, Device::cpu(), opt);
  CHECK(r.interrupted);
  CHECK(r.iterations == 1);
  CHECK(r.checkpoint == dir + "/ckpt-000000001.bin");
  CHECK_NOTHROW(read_checkpoint(r.checkpoint));
  CHECK(!file_exists(dir + "/ckpt-000000003.bin.tmp.99999"));
  // Resuming after the stop gives the same weights as an uninterrupted run, and the log keeps only
  // the records up to the checkpoint resumed (not a later one's, nor a line torn by a kill).
  append_file(dir + "/log.jsonl", "{\"iteration\": 5}\n{\"iteration\": 1");
  stop = false;
  opt.resume = true;
  TrainResult resumed = train_net(cfg, data, nullptr, Device::cpu(), opt);
  std::vector<char> log = read_file(dir + "/log.jsonl");
  std::string text(log.begin(), log.end());
  CHECK(text.find("{\"iteration\": 5}") == std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);  // iterations 1, 8 and 12
  CHECK(!resumed.interrupted);
  test::ScratchDir straight_dir("harden-stop-straight");
  TrainOptions straight = quiet_options(cfg, straight_dir.path());
  TrainResult s = train_net(cfg, data, nullptr, Device::cpu(), straight);
  CHECK(read_checkpoint(s.checkpoint).payload == read_checkpoint(resumed.checkpoint).payload);
}

TEST_CASE("harden 12: unknown top-level config keys and a zero --max-images are refused") {
  std::string s = kNet;
  s.replace(s.find("\"input\""), 7, "\"inptu\": 1, \"input\"");
  CHECK(test::error_of([&] { parse_net_config(s, "x.json"); }) == "x.json: unknown field 'inptu'");
  NetConfig cfg = parse_net_config(kNet, "hard.json");
  NoiseSet data(16, 1, 8, 8);
  Net a(cfg, {1, 8, 8}, 2, Device::cpu(), 8), b(cfg, {1, 8, 8}, 2, Device::cpu(), 8);
  a.init(1), b.init(2);
  for (long long m : {0LL, -2LL}) {
    CorrelateOptions opt;
    opt.max_images = m;
    std::string msg = test::error_of([&] { correlate_nets({&a, &b}, data, opt); });
    CHECK_MESSAGE(msg.find("--max-images must be positive") != std::string::npos, msg);
  }
}

TEST_CASE("harden fuzz: image-folder decoding of an image with no pixels is an input error") {
  // Found by fuzz/fuzz_image.cpp (fuzz/corpus/image/crash-empty-ppm-height0): stb decodes a PNM
  // header "P6 2 <non-digit>" as 2x0 pixels, and the resampler indexed row -1.
  test::ScratchDir scratch("harden-emptyimg");
  const std::string& dir = scratch.path();
  for (const char* cls : {"a", "b"}) {
    make_dirs(dir + "/" + cls);
    write_file_atomic(dir + "/" + cls + "/x.ppm", std::string("P6\n2\xe0\xc3\n255\n\x00\x01\x02\x03\x04\x05", 17));
  }
  auto ds = open_dataset("folder:" + dir, "train");
  std::vector<float> out(ds->shape().size());
  std::string msg = test::error_of([&] { ds->load(0, out.data(), true, 1); });
  CHECK(msg.find("pixels is empty") != std::string::npos);
}

TEST_CASE("harden fuzz: a JPEG Huffman table of more than 256 codes is refused before stb_image builds it") {
  // Found by fuzz/fuzz_image.cpp: stb_image 2.27 wrote past its Huffman size list (UBSan: index 257
  // out of bounds for 'stbi_uc[257]'), in the decoder and, for a table before the frame header, in
  // stbi_info already.
  // stb also accepts 0xFF fill bytes before the start-of-image marker (crash-jpeg-huffman-after-fill-bytes).
  for (const char* name :
       {"crash-jpeg-huffman-over-256", "crash-jpeg-huffman-in-header", "crash-jpeg-huffman-after-fill-bytes"}) {
    CAPTURE(name);
    std::vector<char> jpeg = read_file(std::string("fuzz/corpus/image/") + name);
    test::ScratchDir scratch("harden-huffman");
    const std::string& dir = scratch.path();
    for (const char* cls : {"a", "b"}) {
      make_dirs(dir + "/" + cls);
      write_file_atomic(dir + "/" + cls + "/x.jpg", jpeg.data(), jpeg.size());
    }
    auto ds = open_dataset("folder:" + dir, "train");
    std::vector<float> out(ds->shape().size());
    std::string msg = test::error_of([&] { ds->load(0, out.data(), false, 0); });
    CHECK(msg.find("corrupt JPEG (a Huffman table declares") != std::string::npos);
  }
}

TEST_CASE("harden fuzz: a 16-bit PGM/PPM is refused rather than misconverted by stb_image") {
  // Found by fuzz/fuzz_image.cpp (fuzz/corpus/image/crash-pgm-16bit-to-rgb): stb_image 2.27 read past
  // its buffer converting a 16-bit PGM to RGB (ASan heap-buffer-overflow in stbi__convert_16_to_8).
  std::vector<char> pgm = read_file("fuzz/corpus/image/crash-pgm-16bit-to-rgb");
  test::ScratchDir scratch("harden-pgm16");
  const std::string& dir = scratch.path();
  for (const char* cls : {"a", "b"}) {
    make_dirs(dir + "/" + cls);
    write_file_atomic(dir + "/" + cls + "/x.pgm", pgm.data(), pgm.size());
  }
  auto ds = open_dataset("folder:" + dir, "train");
  std::vector<float> out(ds->shape().size());
  std::string msg = test::error_of([&] { ds->load(0, out.data(), false, 0); });
  CHECK(msg.find("16-bit PGM/PPM (maxval above 255) is not supported") != std::string::npos);
}

TEST_CASE("harden fuzz: a PNG chunk longer than the file is refused before stb_image reserves it") {
  // Found by fuzz/fuzz_image.cpp (fuzz/corpus/image/oom-png-2gb-idat): 133 bytes declaring a 2 GB
  // IDAT chunk made stb_image allocate 2 GB.
  std::vector<char> png = read_file("fuzz/corpus/image/oom-png-2gb-idat");
  test::ScratchDir scratch("harden-pngchunk");
  const std::string& dir = scratch.path();
  for (const char* cls : {"a", "b"}) {
    make_dirs(dir + "/" + cls);
    write_file_atomic(dir + "/" + cls + "/x.png", png.data(), png.size());
  }
  auto ds = open_dataset("folder:" + dir, "train");
  std::vector<float> out(ds->shape().size());
  std::string msg = test::error_of([&] { ds->load(0, out.data(), false, 0); });
  CHECK(msg.find("truncated PNG (a chunk declares 2130706507 bytes") != std::string::npos);
}

TEST_CASE("harden fuzz: a PGM/PPM header number too long for an int is refused before stb_image parses it") {
  // Found by fuzz/fuzz_image.cpp (fuzz/corpus/image/crash-pnm-header-int-overflow): signed overflow
  // in stb_image's header parser.
  std::vector<char> pnm = read_file("fuzz/corpus/image/crash-pnm-header-int-overflow");
  test::ScratchDir scratch("harden-pnmint");
  const std::string& dir = scratch.path();
  for (const char* cls : {"a", "b"}) {
    make_dirs(dir + "/" + cls);
    write_file_atomic(dir + "/" + cls + "/x.ppm", pnm.data(), pnm.size());
  }
  auto ds = open_dataset("folder:" + dir, "train");
  std::vector<float> out(ds->shape().size());
  std::string msg = test::error_of([&] { ds->load(0, out.data(), false, 0); });
  CHECK(msg.find("PGM/PPM header number of") != std::string::npos);
}
