// Dataset readers and the batch loader. Every reader reads files the test writes itself (IDX plain and
// gzip, CIFAR binaries, a PNG/JPEG image folder); the real Fashion-MNIST is checked when installed.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_STATIC  // private copy: never clashes with another file's
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/readers.h"
#include "kernels/rng.h"
#include "tests/check.h"

using namespace cvg;
namespace fs = std::filesystem;

namespace {

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f);
  if (!b.empty()) REQUIRE(std::fwrite(b.data(), 1, b.size(), f) == b.size());
  std::fclose(f);
}
void write_gz(const std::string& path, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f);
  REQUIRE(gzwrite(f, b.data(), (unsigned)b.size()) == (int)b.size());
  gzclose(f);
}
std::vector<uint8_t> read_bytes(const std::string& path) {
  std::vector<char> c = read_file(path);
  return std::vector<uint8_t>(c.begin(), c.end());
}

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back((uint8_t)(x >> s));
}
// IDX images (magic 0x803) with pixel (i, k) = (7 i + 3 k) mod 256, and labels (magic 0x801) i mod 10.
uint8_t idx_pixel(size_t i, size_t k) { return (uint8_t)((7 * i + 3 * k) % 256); }
std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols, uint32_t magic = 0x803) {
  std::vector<uint8_t> v;
  put32(v, magic), put32(v, n), put32(v, rows), put32(v, cols);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < (size_t)rows * cols; ++k) v.push_back(idx_pixel(i, k));
  return v;
}
std::vector<uint8_t> idx_labels(uint32_t n, uint32_t magic = 0x801) {
  std::vector<uint8_t> v;
  put32(v, magic), put32(v, n);
  for (size_t i = 0; i < n; ++i) v.push_back((uint8_t)(i % 10));
  return v;
}

// Runs `f`, which must throw InputError whose message names `file` and contains `what`.
template <class F>
void check_input_error(F&& f, const std::string& file, const std::string& what) {
  std::string msg;
  try {
    f();
  } catch (const InputError& e) {
    msg = e.what();
  }
  INFO("message: '", msg, "', want file '", file, "' and '", what, "'");
  CHECK(!msg.empty());
  CHECK(msg.find(file) != std::string::npos);
  CHECK(msg.find(what) != std::string::npos);
}

std::vector<float> load_one(const Dataset& ds, size_t i, int32_t* label = nullptr, bool train = false, uint64_t seed = 0) {
  std::vector<float> x(ds.shape().size());
  const int32_t l = ds.load(i, x.data(), train, seed);
  if (label) *label = l;
  return x;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- IDX

TEST_CASE("data/idx: reads plain and gzip IDX files, shape, labels and normalisation") {
  test::ScratchDir dir("data");
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(12, 5, 4));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels(12));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(3, 5, 4));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels(3));

  auto train = open_dataset("idx:" + dir.path(), "train");
  auto test = open_dataset("idx", "test", dir.path());  // folder given as data_dir
  CHECK(train->size() == 12);
  CHECK(test->size() == 3);
  CHECK(train->num_classes() == 10);
  CHECK(train->shape().c == 1);
  CHECK(train->shape().h == 5);
  CHECK(train->shape().w == 4);
  CHECK(train->describe() == "idx train: 12 images 1x5x4, 10 classes");
  for (size_t i : {0, 7, 11}) {
    int32_t label = -1;
    auto x = load_one(*train, i, &label);
    CHECK(label == (int)(i % 10));
    for (size_t k = 0; k < x.size(); ++k) CHECK(x[k] == doctest::Approx((idx_pixel(i, k) / 255.0 - 0.5) / 0.5).epsilon(1e-6));
  }
  // fashion-mnist:DIR reads the same layout with its own mean and std.
  auto fm = open_dataset("fashion-mnist", "test", dir.path());
  auto x = load_one(*fm, 2);
  for (size_t k = 0; k < x.size(); ++k) CHECK(x[k] == doctest::Approx((idx_pixel(2, k) / 255.0 - 0.2860) / 0.3530).epsilon(1e-5));
  auto n = fm->normalisation();
  CHECK(n.mean[0] == doctest::Approx(0.2860));
  CHECK(n.std[0] == doctest::Approx(0.3530));
}

TEST_CASE("data/idx: every bad file gives InputError naming the file") {
  test::ScratchDir dir("data");
  const std::string img = dir / "train-images-idx3-ubyte", lbl = dir / "train-labels-idx1-ubyte";
  auto open = [&] { open_dataset("mnist:" + dir.path(), "train"); };
  auto good = [&] {
    fs::remove(img), fs::remove(img + ".gz"), fs::remove(lbl), fs::remove(lbl + ".gz");
    write_bytes(img, idx_images(6, 3, 3));
    write_bytes(lbl, idx_labels(6));
  };
  good();
  CHECK_NOTHROW(open());

  SUBCASE("missing") {
    fs::remove(lbl);
    check_input_error(open, lbl, "not found");
    check_input_error([&] { open_dataset("mnist:" + dir.path() + "/nowhere", "test"); }, "nowhere/t10k-images-idx3-ubyte",
                      "not found");
  }
  SUBCASE("bad magic") {
    write_bytes(img, idx_images(6, 3, 3, 0x801));
    check_input_error(open, img, "bad magic 0x00000801");
    good();
    write_bytes(lbl, idx_labels(6, 0x803));
    check_input_error(open, lbl, "bad magic");
  }
  SUBCASE("truncated") {
    auto b = idx_images(6, 3, 3);
    b.resize(b.size() - 1);
    write_bytes(img, b);
    check_input_error(open, img, "truncated");
    write_bytes(img, std::vector<uint8_t>(10, 0));
    check_input_error(open, img, "truncated");
    good();
    auto l = idx_labels(6);
    l.pop_back();
    write_bytes(lbl, l);
    check_input_error(open, lbl, "truncated");
  }
  SUBCASE("trailing data") {
    auto b = idx_images(6, 3, 3);
    b.push_back(0);
    write_bytes(img, b);
    check_input_error(open, img, "trailing");
  }
  SUBCASE("count mismatch") {
    write_bytes(lbl, idx_labels(5));
    check_input_error(open, lbl, "5 labels, but");
  }
  SUBCASE("bad label") {
    auto l = idx_labels(6);
    l[8 + 4] = 10;
    write_bytes(lbl, l);
    check_input_error(open, lbl, "label 10 of image 4");
  }
  SUBCASE("implausible dimensions") {
    write_bytes(img, idx_images(6, 0, 3));
    check_input_error(open, img, "image size");
  }
}

TEST_CASE("data/idx: truncated or corrupt gzip streams are reported") {
  test::ScratchDir dir("data");
  const std::string gz = dir / "x.gz";
  std::vector<uint8_t> payload(200000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = (uint8_t)(rng_bits(1, 2, i) & 0x0f);  // compressible
  write_gz(gz, payload);
  CHECK(data::read_maybe_gz(gz) == payload);
  auto b = read_bytes(gz);

  auto cut = b;
  cut.resize(b.size() / 2);
  write_bytes(gz, cut);
  check_input_error([&] { data::read_maybe_gz(gz); }, gz, "truncated");

  auto bad = b;
  for (size_t k = b.size() / 3; k < b.size() / 3 + 64; ++k) bad[k] ^= 0x5a;
  write_bytes(gz, bad);
  check_input_error([&] { data::read_maybe_gz(gz); }, gz, "gzip");

  // The IDX reader passes these errors through, naming the file.
  const std::string img = dir / "train-images-idx3-ubyte.gz";
  write_gz(img, idx_images(50, 28, 28));
  write_bytes(dir / "train-labels-idx1-ubyte", idx_labels(50));
  CHECK(open_dataset("idx:" + dir.path(), "train")->size() == 50);
  auto ib = read_bytes(img);
  ib.resize(ib.size() - 20);
  write_bytes(img, ib);
  check_input_error([&] { open_dataset("idx:" + dir.path(), "train"); }, img, "truncated");
}

TEST_CASE("data/fashion-mnist: the installed set loads 60000/10000 images with balanced labels 0..9") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!file_exists(dir + "/train-images-idx3-ubyte.gz")) {
    std::printf("skipped (Fashion-MNIST not installed at %s): data/fashion-mnist\n", dir.c_str());
    return;
  }
  auto train = open_dataset("fashion-mnist", "train");
  auto test = open_dataset("fashion-mnist", "test");
  CHECK(train->size() == 60000);
  CHECK(test->size() == 10000);
  CHECK(test->describe() == "fashion-mnist test: 10000 images 1x28x28, 10 classes");
  std::vector<float> x(28 * 28);
  for (auto* ds : {train.get(), test.get()}) {
    std::vector<int> count(10);
    double s = 0, s2 = 0;
    for (size_t i = 0; i < ds->size(); ++i) {
      const int32_t l = ds->load(i, x.data(), false, 0);
      REQUIRE((l >= 0 && l < 10));
      ++count[l];
      if (i < 5000)
        for (float v : x) s += v, s2 += (double)v * v;
    }
    for (int c = 0; c < 10; ++c) CHECK(count[c] == (int)ds->size() / 10);  // Fashion-MNIST is exactly balanced
    // The documented constants are the training set's pixel mean and std, so inputs are ~standardised.
    const double n = 5000.0 * 784, mean = s / n, sd = std::sqrt(s2 / n - mean * mean);
    CHECK(std::fabs(mean) < 0.05);
    CHECK(std::fabs(sd - 1) < 0.05);
  }
}

// -------------------------------------------------------------------------------------------- CIFAR

namespace {
uint8_t cifar_pixel(size_t rec, size_t k) { return (uint8_t)((rec * 31 + k * 5) % 256); }
// `labels` per record; CIFAR-100 records get a coarse label fine/5 before the fine one.
std::vector<uint8_t> cifar_file(const std::vector<int>& labels, bool c100, size_t first_rec = 0) {
  std::vector<uint8_t> v;
  for (size_t r = 0; r < labels.size(); ++r) {
    if (c100) v.push_back((uint8_t)(labels[r] / 5));
    v.push_back((uint8_t)labels[r]);
    for (size_t k = 0; k < 3072; ++k) v.push_back(cifar_pixel(first_rec + r, k));
  }
  return v;
}
}  // namespace

TEST_CASE("data/cifar: CIFAR-10 and CIFAR-100 binaries, record layout and normalisation") {
  test::ScratchDir dir("data");
  fs::create_directory(dir / "cifar-10-batches-bin");  // the tarball's folder is found too
  for (int b = 1; b <= 5; ++b)
    write_bytes(dir / ("cifar-10-batches-bin/data_batch_" + std::to_string(b) + ".bin"),
                cifar_file({b, b + 1, 9}, false, (size_t)(b - 1) * 3));
  write_bytes(dir / "cifar-10-batches-bin/test_batch.bin", cifar_file({4, 0}, false));
  auto train = open_dataset("cifar10:" + dir.path(), "train");
  auto test = open_dataset("cifar10:" + dir.path(), "test");
  CHECK(train->size() == 15);
  CHECK(test->size() == 2);
  CHECK(train->describe() == "cifar10 train: 15 images 3x32x32, 10 classes");
  const Normalisation n = train->normalisation();
  for (size_t rec : {0, 4, 14}) {
    int32_t label;
    auto x = load_one(*train, rec, &label);
    CHECK(label == (rec % 3 == 2 ? 9 : (int)(rec / 3 + 1 + rec % 3)));
    for (size_t k = 0; k < 3072; k += 97) {
      const int c = (int)(k / 1024);  // R, G, B planes: already CHW
      CHECK(x[k] == doctest::Approx((cifar_pixel(rec, k) / 255.0 - n.mean[c]) / n.std[c]).epsilon(1e-5));
    }
  }
  CHECK(n.mean[2] == doctest::Approx(0.4465));

  write_bytes(dir / "train.bin", cifar_file({99, 0, 57}, true));
  write_bytes(dir / "test.bin", cifar_file({3}, true));
  auto c100 = open_dataset("cifar100:" + dir.path(), "train");
  CHECK(c100->size() == 3);
  CHECK(c100->num_classes() == 100);
  int32_t label;
  auto x = load_one(*c100, 2, &label);
  CHECK(label == 57);  // the fine label
  CHECK(x[5] == doctest::Approx((cifar_pixel(2, 5) / 255.0 - 0.5071) / 0.2673).epsilon(1e-5));
  CHECK(open_dataset("cifar100:" + dir.path(), "test")->size() == 1);
}

TEST_CASE("data/cifar: bad files give InputError naming the file") {
  test::ScratchDir dir("data");
  for (int b = 1; b <= 5; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_file({1, 2}, false));
  auto open10 = [&] { open_dataset("cifar10:" + dir.path(), "train"); };
  CHECK_NOTHROW(open10());
  auto f3 = cifar_file({1, 2}, false);
  f3.pop_back();
  write_bytes(dir / "data_batch_3.bin", f3);
  check_input_error(open10, dir / "data_batch_3.bin", "not a positive multiple of the 3073-byte record");
  write_bytes(dir / "data_batch_3.bin", {});
  check_input_error(open10, dir / "data_batch_3.bin", "size 0");
  write_bytes(dir / "data_batch_3.bin", cifar_file({1, 10}, false));
  check_input_error(open10, dir / "data_batch_3.bin", "label 10 of record 1");
  fs::remove(dir / "data_batch_3.bin");
  check_input_error(open10, dir / "data_batch_3.bin", "not found");
  check_input_error([&] { open_dataset("cifar10:" + dir.path(), "test"); }, dir / "test_batch.bin", "not found");

  auto c = cifar_file({7}, true);
  c[0] = 20;  // coarse label out of range
  write_bytes(dir / "train.bin", c);
  check_input_error([&] { open_dataset("cifar100:" + dir.path(), "train"); }, dir / "train.bin", "coarse label 20");
  c = cifar_file({7}, true);
  c.resize(c.size() + 1);
  write_bytes(dir / "train.bin", c);
  check_input_error([&] { open_dataset("cifar100:" + dir.path(), "train"); }, dir / "train.bin", "3074-byte record");
}

// ------------------------------------------------------------------------------------- image folder

namespace {
struct Image {
  int w, h;
  std::vector<uint8_t> px;  // RGB, row-major
};
Image make_image(int w, int h, uint64_t seed) {
  Image im{w, h, std::vector<uint8_t>((size_t)w * h * 3)};
  for (size_t k = 0; k < im.px.size(); ++k) im.px[k] = (uint8_t)(rng_bits(seed, 0, k) & 0xff);
  return im;
}
void save_png(const std::string& path, const Image& im) {
  REQUIRE(stbi_write_png(path.c_str(), im.w, im.h, 3, im.px.data(), im.w * 3));
}
void save_jpg(const std::string& path, const Image& im) {
  REQUIRE(stbi_write_jpg(path.c_str(), im.w, im.h, 3, im.px.data(), 95));
}
const float kMean[3] = {123, 117, 104};

// Four flat colours, one per quadrant (split at w/2, h/2): where a decoded, resized, cropped image
// lands shows orientation, mirroring and channel order; a flat area resamples to its own colour.
const uint8_t kQuadrant[4][3] = {{200, 30, 90}, {20, 160, 240}, {250, 250, 10}, {60, 0, 130}};
Image quadrants(int w, int h) {
  Image im{w, h, std::vector<uint8_t>((size_t)w * h * 3)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) im.px[((size_t)y * w + x) * 3 + c] = kQuadrant[2 * (y >= h / 2) + (x >= w / 2)][c];
  return im;
}

// Output of a folder load where no resize happens (shorter side already 256): the crop at (ox, oy),
// mirrored or not, minus the mean.
bool is_crop(const std::vector<float>& x, const Image& im, int ox, int oy, bool mirror) {
  const int S = 227;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < S; ++y)
      for (int j = 0; j < S; ++j) {
        const int sx = ox + (mirror ? S - 1 - j : j);
        const float want = im.px[((size_t)(oy + y) * im.w + sx) * 3 + c] - kMean[c];
        if (std::fabs(x[(size_t)c * S * S + (size_t)y * S + j] - want) > 1e-3f) return false;
      }
  return true;
}
}  // namespace

TEST_CASE("data/folder: classes, deterministic 90/10 split, crops, mirror, resizing") {
  test::ScratchDir dir("data");
  // 3 classes named out of order on disk; sorted by name they are labels 0, 1, 2.
  const std::vector<std::string> classes = {"ant", "bee", "cat"};
  const Image exact = make_image(400, 256, 11);  // shorter side 256: no resampling, crops are exact
  for (const auto& c : classes) fs::create_directories(dir / c);
  save_png(dir / "ant/a00.png", exact);
  for (int k = 1; k < 12; ++k)
    save_png(dir / ("ant/a" + std::string(k < 10 ? "0" : "") + std::to_string(k) + ".png"), make_image(40, 30, k));
  save_jpg(dir / "bee/b0.jpg", quadrants(300, 500));    // portrait JPEG
  save_png(dir / "bee/b1.PNG", make_image(64, 64, 4));  // upscaled 4x
  write_bytes(dir / "bee/notes.txt", {'h', 'i'});       // ignored: not an image name
  save_png(dir / "cat/c0.png", quadrants(50, 20));
  fs::create_directories(dir / ".hidden");

  auto train = open_dataset("folder:" + dir.path(), "train");
  auto test = open_dataset("folder:" + dir.path(), "test");
  CHECK(train->num_classes() == 3);
  CHECK(train->shape().c == 3);
  CHECK(train->shape().h == 227);
  CHECK(train->shape().w == 227);
  // ant: 12 files -> round(1.2) = 1 test file (the last of the evenly spread picks); bee: 2 -> 1; cat: 1 -> 0.
  CHECK(train->size() == 11 + 1 + 1);
  CHECK(test->size() == 1 + 1);
  CHECK(test->describe() == "folder " + dir.path() + " test: 2 images 3x227x227, 3 classes");
  // train: ant/a00..a10, bee/b0.jpg, cat/c0.png; test: ant/a11.png, bee/b1.PNG.
  std::vector<int> labels;
  for (size_t i = 0; i < train->size(); ++i) {
    int32_t l;
    load_one(*train, i, &l);
    labels.push_back(l);
  }
  CHECK(labels == std::vector<int>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2});
  // The first ant file (no resize) is train sample 0: centre crop exact, at ((400-227)/2, (256-227)/2).
  auto centre = load_one(*train, 0);
  CHECK(is_crop(centre, exact, 86, 14, false));
  // Training crops: a valid window, mirrored or not, a pure function of (aug_seed, i).
  std::set<std::pair<int, int>> offsets;
  int mirrored = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    auto a = load_one(*train, 0, nullptr, true, seed);
    CHECK(a == load_one(*train, 0, nullptr, true, seed));
    // Find the window: the first pixel's row/offset search is cheap with the exact image.
    bool found = false;
    for (int oy = 0; oy <= 29 && !found; ++oy)
      for (int ox = 0; ox <= 173 && !found; ++ox)
        for (bool m : {false, true}) {
          const int sx = ox + (m ? 226 : 0);
          if (std::fabs(a[0] - (exact.px[((size_t)oy * 400 + sx) * 3] - kMean[0])) > 1e-3f) continue;
          if (is_crop(a, exact, ox, oy, m)) {
            found = true, offsets.insert({ox, oy}), mirrored += m;
            break;
          }
        }
    CHECK(found);
  }
  CHECK(offsets.size() >= 10);  // 174 x 30 positions: 12 draws nearly never collide
  CHECK(mirrored > 0);
  CHECK(mirrored < 12);

  // A 64x64 PNG upscaled 4x to 256: bilinear interpolation of its pixels (spot checks against a direct formula).
  {
    const Image im = make_image(64, 64, 4);
    int32_t l;
    auto x = load_one(*test, 1, &l);  // bee/b1.PNG
    CHECK(l == 1);
    for (int y : {0, 50, 113, 226})
      for (int j : {0, 7, 120, 226}) {
        auto src = [&](double v) { return std::clamp(((v + 0.5) / 4) - 0.5, 0.0, 63.0); };
        const double u = src(j + 14), v = src(y + 14);  // centre crop offset (256-227)/2
        const int u0 = (int)u, v0 = (int)v, u1 = std::min(u0 + 1, 63), v1 = std::min(v0 + 1, 63);
        const double fu = u - u0, fv = v - v0;
        auto P = [&](int xx, int yy) { return (double)im.px[((size_t)yy * 64 + xx) * 3 + 1]; };
        const double want = (1 - fv) * ((1 - fu) * P(u0, v0) + fu * P(u1, v0)) + fv * ((1 - fu) * P(u0, v1) + fu * P(u1, v1));
        CHECK(x[(size_t)227 * 227 + (size_t)y * 227 + j] == doctest::Approx(want - kMean[1]).epsilon(1e-4));
      }
  }
  // The portrait JPEG (300x500 -> 256x427, centre crop at (14, 100)) and the tiny 50x20 PNG
  // (upscaled 12.8x to 640x256, crop at (206, 14)) decode, resize and crop: each output pixel well
  // inside a quadrant holds that quadrant's colour minus the mean. The PNG is lossless and a flat area
  // resamples to itself (weights sum to 1 in float: 1e-3 covers it); JPEG at quality 95 keeps a flat
  // 8x8 block to within its quantised DC and the colour conversion's rounding: 3 levels.
  struct Decoded {
    size_t index;
    int w, h, W, H;
    double tol, margin;  // margin: source pixels kept away from the split
  };
  // JPEG: the 8x8 block holding the split, plus the shrinking filter's reach (1.2 source pixels);
  // PNG: the bilinear filter's reach when enlarging (1 source pixel), plus one.
  for (Decoded d : {Decoded{11, 300, 500, 256, 427, 3.0, 10}, Decoded{12, 50, 20, 640, 256, 1e-3, 2}}) {
    CAPTURE(d.index);
    auto x = load_one(*train, d.index);
    const int ox = (d.W - 227) / 2, oy = (d.H - 227) / 2;
    const double sx = (double)d.W / d.w, sy = (double)d.H / d.h;
    const double cx = d.w / 2 * sx - ox, cy = d.h / 2 * sy - oy, mx = d.margin * std::max(sx, 1.0),
                 my = d.margin * std::max(sy, 1.0);  // the split and the margin in output pixels
    size_t checked = 0, bad = 0;
    for (int y = 0; y < 227; ++y)
      for (int j = 0; j < 227; ++j) {
        if (std::fabs(j - cx) < mx || std::fabs(y - cy) < my) continue;
        const int q = 2 * (y > cy) + (j > cx);
        for (int c = 0; c < 3; ++c)
          bad += std::fabs(x[(size_t)c * 227 * 227 + (size_t)y * 227 + j] - (kQuadrant[q][c] - kMean[c])) > d.tol;
        ++checked;
      }
    CHECK(bad == 0);
    CHECK(checked > 227 * 227 / 2);
  }
}

TEST_CASE("data/folder: shrinking is antialiased, grey images become RGB") {
  test::ScratchDir dir("data");
  fs::create_directories(dir / "train/stripes");
  fs::create_directories(dir / "val/stripes");
  // Vertical stripes of period 3 (255, 0, 0), shrunk 4x: point-sampled bilinear would alias to
  // columns of 0 / 64 / 128 / 191..., an antialiased filter gives ~85 everywhere.
  Image im{1024, 1024, std::vector<uint8_t>((size_t)1024 * 1024 * 3)};
  for (int y = 0; y < 1024; ++y)
    for (int x = 0; x < 1024; ++x)
      for (int c = 0; c < 3; ++c) im.px[((size_t)y * 1024 + x) * 3 + c] = x % 3 == 0 ? 255 : 0;
  save_png(dir / "train/stripes/s.png", im);
  std::vector<uint8_t> grey((size_t)300 * 256, 77);
  REQUIRE(stbi_write_png((dir / "val/stripes/g.png").c_str(), 300, 256, 1, grey.data(), 300));
  auto train = open_dataset("folder:" + dir.path(), "train");
  auto x = load_one(*train, 0);
  float lo = 1e9f, hi = -1e9f;
  for (size_t k = 0; k < (size_t)227 * 227; ++k) lo = std::min(lo, x[k] + kMean[0]), hi = std::max(hi, x[k] + kMean[0]);
  CHECK(lo > 85 - 15);
  CHECK(hi < 85 + 15);
  auto g = load_one(*open_dataset("folder:" + dir.path(), "test"), 0);
  for (int c = 0; c < 3; ++c) CHECK(g[(size_t)c * 227 * 227 + 500] == doctest::Approx(77 - kMean[c]));
}

TEST_CASE("data/folder: train/val layout, corrupt images and bad layouts give InputError") {
  test::ScratchDir dir("data");
  fs::create_directories(dir / "train/a");
  fs::create_directories(dir / "train/b");
  fs::create_directories(dir / "val/b");
  save_png(dir / "train/a/1.png", make_image(256, 256, 1));
  save_png(dir / "train/b/1.png", make_image(256, 256, 2));
  save_png(dir / "val/b/ok.png", make_image(256, 256, 3));
  write_bytes(dir / "val/b/zbroken.jpg", {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5});
  auto test = open_dataset("folder:" + dir.path(), "test");
  CHECK(test->size() == 2);
  CHECK(test->num_classes() == 2);
  int32_t label = -1;
  load_one(*test, 0, &label);
  CHECK(label == 1);
  check_input_error([&] { load_one(*test, 1); }, dir / "val/b/zbroken.jpg", "cannot decode image: a JPEG that is truncated");

  fs::create_directories(dir / "val/zebra");
  check_input_error([&] { open_dataset("folder:" + dir.path(), "test"); }, dir / "val/zebra", "class not among");
  fs::remove_all(dir / "val");
  check_input_error([&] { open_dataset("folder:" + dir.path(), "test"); }, dir / "val", "not found");
  fs::create_directories(dir / "train/c");
  check_input_error([&] { open_dataset("folder:" + dir.path(), "train"); }, dir / "train/c", "no images");
  check_input_error([&] { open_dataset("folder:" + dir.path() + "/missing", "train"); }, dir / "missing", "not found");
  check_input_error([&] { open_dataset("folder:" + dir.path() + "/train/a/1.png", "train"); }, "1.png", "not a folder");
}

// ------------------------------------------------------------------------------------- image decoding

namespace {
std::vector<char> encoded(const std::string& kind, const Image& im) {
  std::vector<char> out;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::vector<char>*>(ctx)->insert(static_cast<std::vector<char>*>(ctx)->end(), (char*)data, (char*)data + size);
  };
  if (kind == "png") REQUIRE(stbi_write_png_to_func(sink, &out, im.w, im.h, 3, im.px.data(), im.w * 3));
  if (kind == "bmp") REQUIRE(stbi_write_bmp_to_func(sink, &out, im.w, im.h, 3, im.px.data()));
  if (kind == "jpg") REQUIRE(stbi_write_jpg_to_func(sink, &out, im.w, im.h, 3, im.px.data(), 95));
  return out;
}
std::vector<uint8_t> decoded(const std::vector<char>& file) {
  const data::RgbImage im = data::decode_rgb(file, "x");
  return std::vector<uint8_t>(im.px.get(), im.px.get() + (size_t)im.w * im.h * 3);
}
std::vector<char> bytes_of(const std::string& s) { return std::vector<char>(s.begin(), s.end()); }
}  // namespace

TEST_CASE("data/decode: what stb_image 2.27 gets wrong is corrected or refused, valid files decode as they are") {
  const Image im = make_image(5, 4, 7);
  SUBCASE("a top-down BMP (negative height) decodes as its bottom-up twin") {
    const std::vector<char> up = encoded("bmp", im);
    REQUIRE(decoded(up) == im.px);
    std::vector<char> down = up;
    const size_t offset = (uint8_t)up[10], stride = 16;  // 5 pixels x 3 bytes, padded to 4
    for (int k = 0; k < 4; ++k) down[22 + k] = (char)((uint32_t)-4 >> (8 * k));
    for (int r = 0; r < 4; ++r) std::memcpy(&down[offset + r * stride], &up[offset + (3 - r) * stride], stride);
    CHECK(decoded(down) == im.px);
  }
  SUBCASE("a BMP short of pixel rows is refused; one lacking only its last row's padding is not") {
    std::vector<char> bmp = encoded("bmp", im);
    bmp.pop_back();
    CHECK(decoded(bmp) == im.px);
    bmp.pop_back();
    check_input_error([&] { decoded(bmp); }, "x", "truncated BMP");
  }
  SUBCASE("a PPM short of pixel bytes is refused (stb would fill them from memory it never wrote)") {
    std::vector<char> ppm = bytes_of("P6\n# a comment\n5 4\n255\n");
    ppm.insert(ppm.end(), im.px.begin(), im.px.end());
    CHECK(decoded(ppm) == im.px);
    ppm.pop_back();
    check_input_error([&] { decoded(ppm); }, "x", "truncated PGM/PPM");
  }
  SUBCASE("a PGM's values are scaled from its maxval to 0..255 (Netpbm); above maxval or maxval 0 is refused") {
    std::vector<char> pgm = bytes_of("P5 3 2 15\n");
    for (uint8_t v : {0, 5, 10, 15, 1, 14}) pgm.push_back((char)v);
    std::vector<uint8_t> want;
    for (int v : {0, 85, 170, 255, 17, 238}) want.insert(want.end(), 3, (uint8_t)v);  // round(v * 255 / 15)
    CHECK(decoded(pgm) == want);
    pgm.back() = 16;
    check_input_error([&] { decoded(pgm); }, "x", "PGM/PPM value 16 above its maxval 15");
    check_input_error([&] { decoded(bytes_of("P5 1 1 0\n\x01")); }, "x", "maxval 0");
  }
  SUBCASE("FF C4 inside a JPEG comment is not a Huffman table (stb skips the comment unread)") {
    const std::vector<char> jpg = encoded("jpg", make_image(16, 16, 3));
    const std::vector<uint8_t> plain = decoded(jpg);
    std::vector<char> with = jpg;
    std::vector<char> comment = {(char)0xFF, (char)0xFE, 0, 20, 'x', (char)0xFF, (char)0xC4};
    comment.resize(22, (char)0xFF);  // read as a table, 16 counts of 255 would be 4080 codes
    with.insert(with.begin() + 2, comment.begin(), comment.end());
    CHECK(decoded(with) == plain);
  }
  SUBCASE("bytes after a PNG's IEND chunk are ignored, as stb ignores them") {
    std::vector<char> png = encoded("png", im);
    for (char c : bytes_of("\x7f\xff\xff\xffjunk")) png.push_back(c);
    CHECK(decoded(png) == im.px);
  }
  SUBCASE("a PNG with a damaged byte, or without its IEND chunk, is refused (stb checks no CRC: wrong pixels)") {
    const std::vector<char> png = encoded("png", im);
    const size_t idat = 33, data = idat + 8;  // after the signature and the 25-byte IHDR chunk
    REQUIRE(std::string(&png[idat + 4], 4) == "IDAT");
    const size_t len = (uint8_t)png[idat] << 24 | (uint8_t)png[idat + 1] << 16 | (uint8_t)png[idat + 2] << 8 | (uint8_t)png[idat + 3];
    for (size_t at : {size_t(20), data, data + len / 2, data + len - 1}) {  // IHDR, IDAT's first, middle and last bytes
      std::vector<char> bad = png;
      bad[at] ^= 0x10;
      check_input_error([&] { decoded(bad); }, "x", at == 20 ? "its IHDR chunk fails its CRC check" : "its IDAT chunk fails its CRC check");
    }
    std::vector<char> bad = png;
    bad[idat + 12 + len - 1] ^= 0x01;  // the CRC itself
    check_input_error([&] { decoded(bad); }, "x", "its IDAT chunk fails its CRC check");
    check_input_error([&] { decoded(std::vector<char>(png.begin(), png.end() - 12)); }, "x", "ends before its IEND chunk");
    check_input_error([&] { decoded(std::vector<char>(png.begin(), png.end() - 13)); }, "x", "and its CRC, ");
    CHECK(decoded(std::vector<char>(png.begin(), png.end() - 4)) == im.px);  // IEND's own CRC is not needed
  }
  SUBCASE("a file stb cannot decode is named by the format of its first bytes, not stb's last attempt") {
    const std::vector<char> jpg = encoded("jpg", make_image(16, 16, 3));
    check_input_error([&] { decoded(std::vector<char>(jpg.begin(), jpg.begin() + jpg.size() / 2)); }, "x",
                      "a JPEG that is truncated, corrupt or of a kind stb_image does not read");
    check_input_error([&] { decoded(bytes_of("hello, world")); }, "x", "cannot decode image (stb_image says: ");
  }
}

// ---------------------------------------------------------------------------------------- synthetic

TEST_CASE("data/synthetic: deterministic, balanced, varied, split-specific") {
  auto train = open_dataset("synthetic", "train");
  auto test = open_dataset("synthetic", "test");
  CHECK(train->size() == 10000);
  CHECK(test->size() == 2000);
  CHECK(open_dataset("synthetic:500", "train")->size() == 500);
  CHECK(open_dataset("synthetic:500", "test")->size() == 2000);
  CHECK(train->describe() == "synthetic train: 10000 images 3x32x32, 10 classes");
  CHECK(train->num_classes() == 10);
  for (const char* bad : {"synthetic:ten", "synthetic: 5", "synthetic:+5", "synthetic:5:", "synthetic:0", "synthetic:99999999999"})
    for (auto check : {std::function<void()>([&] { open_dataset(bad, "train"); }), std::function<void()>([&] { check_dataset_kind(bad); })})
      check_input_error(check, bad, "positive integer");  // check_dataset_kind: bin/import records a spec it does not open

  auto again = open_dataset("synthetic", "train");
  std::vector<int> count(10);
  std::set<std::vector<float>> distinct;
  for (size_t i = 0; i < 400; ++i) {
    int32_t l1, l2;
    auto a = load_one(*train, i, &l1);
    auto b = load_one(*again, i, &l2, true, 99);  // no augmentation: `train` and the seed change nothing
    CHECK(a == b);
    CHECK(l1 == l2);
    CHECK(l1 == (int)(i % 10));
    ++count[l1];
    for (float v : a) REQUIRE((std::isfinite(v) && v >= -2.0f && v <= 2.0f));  // p in [0, 1] -> [-2, 2]
    distinct.insert(a);
  }
  CHECK(distinct.size() == 400);
  for (int c = 0; c < 10; ++c) CHECK(count[c] == 40);
  CHECK(load_one(*train, 3) != load_one(*test, 3));
  // Colour is a class cue: warm discs (class 0) are redder than blue discs (class 1) on average.
  double red0 = 0, red1 = 0;
  for (size_t i = 0; i < 300; i += 10) {
    auto d0 = load_one(*train, i), d1 = load_one(*train, i + 1);
    for (size_t k = 0; k < 1024; ++k) red0 += d0[k] - d0[2048 + k], red1 += d1[k] - d1[2048 + k];
  }
  CHECK(red0 > red1);
}

// ------------------------------------------------------------------------------------------ loader

namespace {
// Sample i is filled with i (plus an augmentation term drawn from (aug_seed, i) when training);
// label i % 7. Optionally throws for one index, and spins a little so threads interleave.
struct FakeSet : Dataset {
  size_t n;
  long bad = -1;
  explicit FakeSet(size_t n_) : n(n_) {}
  size_t size() const override { return n; }
  int num_classes() const override { return 7; }
  ImageShape shape() const override { return {1, 2, 3}; }
  Normalisation normalisation() const override { return {{0}, {1}}; }
  std::string describe() const override { return "fake: " + std::to_string(n) + " images"; }
  int32_t load(size_t i, float* out, bool train, uint64_t aug_seed) const override {
    if ((long)i == bad) throw InputError("fake/" + std::to_string(i) + ".png: cannot decode image");
    volatile double spin = 0;
    for (int k = 0; k < 2000; ++k) spin = spin + std::sqrt((double)k);
    const float aug = train ? 0.5f * rng_uniform(aug_seed, 5, i) : 0.0f;  // < 0.5: floor(x) is i
    for (int k = 0; k < 6; ++k) out[k] = (float)i + aug + 0.001f * k;
    return (int32_t)(i % 7);
  }
};

struct Batch {
  int count;
  std::vector<float> x;
  std::vector<int32_t> y;
  bool operator==(const Batch& o) const { return count == o.count && x == o.x && y == o.y; }
};
Batch next_batch(Loader& L) {
  Batch b{0, std::vector<float>((size_t)L.batch() * 6, -1.0f), std::vector<int32_t>((size_t)L.batch(), -1)};
  b.count = L.next(b.x.data(), b.y.data());
  return b;
}
std::vector<size_t> ids(const Batch& b) {
  std::vector<size_t> v;
  for (int k = 0; k < b.count; ++k) v.push_back((size_t)std::floor(b.x[(size_t)k * 6]));
  return v;
}
}  // namespace

TEST_CASE("data/loader: training order is a seeded shuffle, every sample once per epoch") {
  FakeSet ds(103);
  Loader a(ds, 10, true, true, true, 42, 2), b(ds, 10, true, true, true, 42, 0), c(ds, 10, true, true, true, 43, 1);
  CHECK(a.batches_per_epoch() == 10);  // drop_last: 103 / 10
  std::vector<std::vector<size_t>> epochs(3);
  bool differs_from_c = false;
  for (int e = 0; e < 3; ++e) {
    for (int k = 0; k < 10; ++k) {
      CHECK(a.epoch() == e);
      CHECK(a.index() == k);
      Batch ba = next_batch(a), bb = next_batch(b), bc = next_batch(c);
      CHECK(ba.count == 10);
      CHECK(ba == bb);  // same seed, any thread count: bit-identical
      differs_from_c |= !(ba == bc);
      auto v = ids(ba);
      CHECK(v == a.batch_indices(e, k));
      for (int j = 0; j < 10; ++j) {
        CHECK(ba.y[j] == (int)(v[j] % 7));
        CHECK(ba.x[(size_t)j * 6 + 2] - ba.x[(size_t)j * 6] == doctest::Approx(0.002f).epsilon(0.05));
      }
      epochs[e].insert(epochs[e].end(), v.begin(), v.end());
    }
  }
  CHECK(a.epoch() == 3);
  CHECK(differs_from_c);
  for (auto& ep : epochs) {
    std::set<size_t> s(ep.begin(), ep.end());
    CHECK(s.size() == 100);  // no repeats; 3 of 103 dropped
    CHECK(*s.rbegin() < 103);
  }
  CHECK(epochs[0] != epochs[1]);  // a new shuffle each epoch
  CHECK(epochs[1] != epochs[2]);
  // The augmentation draw changes between epochs (per-epoch aug seed), and matches the documented key.
  CHECK(Loader::epoch_aug_seed(42, 0) != Loader::epoch_aug_seed(42, 1));
  Loader d(ds, 10, true, true, true, 42, 0);
  Batch first = next_batch(d);
  const size_t i0 = ids(first)[0];
  CHECK(first.x[0] == (float)i0 + 0.5f * rng_uniform(Loader::epoch_aug_seed(42, 0), 5, i0));
}

TEST_CASE("data/loader: evaluation makes sequential passes with a partial last batch") {
  FakeSet ds(23);
  for (int threads : {0, 3}) {
    Loader L(ds, 5, false, false, false, 7, threads);
    CHECK(L.batches_per_epoch() == 5);
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<size_t> seen;
      for (size_t k = 0; k < L.batches_per_epoch(); ++k) {
        Batch b = next_batch(L);
        CHECK(b.count == (k < 4 ? 5 : 3));
        auto v = ids(b);
        seen.insert(seen.end(), v.begin(), v.end());
        for (int j = 0; j < b.count; ++j) CHECK(b.x[(size_t)j * 6] == (float)v[j]);  // no augmentation
      }
      std::vector<size_t> want(23);
      for (size_t i = 0; i < 23; ++i) want[i] = i;
      CHECK(seen == want);
      CHECK(L.epoch() == pass + 1);
      CHECK(L.index() == 0);
    }
  }
  check_input_error([&] { Loader(ds, 24, true, true, true, 1); }, "fake: 23 images", "fewer samples than one batch");
  CHECK(Loader(ds, 24, false, false, false, 1).batches_per_epoch() == 1);
}

TEST_CASE("data/loader: seek resumes exactly, and thread counts give identical batches") {
  FakeSet ds(57);
  std::vector<Batch> straight;
  {
    Loader L(ds, 8, true, true, true, 5, 0);
    for (int k = 0; k < 25; ++k) straight.push_back(next_batch(L));  // 7 batches per epoch: crosses 3 epochs
  }
  for (int threads : {0, 1, 2, 4}) {
    Loader L(ds, 8, true, true, true, 5, threads);
    for (int k = 0; k < 25; ++k) CHECK(next_batch(L) == straight[k]);
    // Resume at batch 10 = (epoch 1, index 3) in a fresh loader, and by seeking back in a used one.
    Loader R(ds, 8, true, true, true, 5, threads);
    R.seek(1, 3);
    for (int k = 10; k < 25; ++k) CHECK(next_batch(R) == straight[k]);
    L.seek(0, 7);  // index == batches_per_epoch normalises to the next epoch's start
    CHECK(L.epoch() == 1);
    CHECK(L.index() == 0);
    for (int k = 7; k < 12; ++k) CHECK(next_batch(L) == straight[k]);
    L.seek(0, 2);
    CHECK(next_batch(L) == straight[2]);
  }
  Loader L(ds, 8, true, true, true, 5, 2);
  CHECK_THROWS_AS(L.seek(0, 8), std::out_of_range);
  CHECK_THROWS_AS(L.seek(-1, 0), std::out_of_range);
}

TEST_CASE("data/loader: a decoding error reaches the caller on the batch that needs the sample") {
  FakeSet ds(40);
  ds.bad = 13;  // sequential batches of 4: batch 3 holds samples 12..15
  for (int threads : {0, 2}) {
    Loader L(ds, 4, false, false, false, 0, threads);
    for (int k = 0; k < 3; ++k) CHECK(next_batch(L).count == 4);
    check_input_error([&] { next_batch(L); }, "fake/13.png", "cannot decode");
    CHECK(L.index() == 3);  // position unchanged: the caller decides
    L.seek(0, 4);
    CHECK(ids(next_batch(L)) == std::vector<size_t>{16, 17, 18, 19});
  }
}

TEST_CASE("data/loader: real datasets through background threads match direct loads") {
  auto ds = open_dataset("synthetic:300", "train");
  Loader L0(*ds, 32, true, true, true, 9, 0), L2(*ds, 32, true, true, true, 9, 2);
  std::vector<float> x0(32 * 3072), x2(32 * 3072), direct(3072);
  std::vector<int32_t> y0(32), y2(32);
  for (int k = 0; k < 12; ++k) {
    CHECK(L0.next(x0.data(), y0.data()) == 32);
    CHECK(L2.next(x2.data(), y2.data()) == 32);
    CHECK(x0 == x2);
    CHECK(y0 == y2);
  }
  auto idx = L0.batch_indices(1, 2);  // batch 11 = epoch 1 (9 batches per epoch), index 2
  CHECK(ds->load(idx[5], direct.data(), true, 0) == y0[5]);
  CHECK(std::equal(direct.begin(), direct.end(), x0.begin() + 5 * 3072));
}
