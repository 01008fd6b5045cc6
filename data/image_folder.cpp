// Image folders in the ImageNet layout, with CaffeNet's input recipe (see dataset.h for the split
// rules and the normalisation). Only the file list is read at open; each load() decodes its file
// (stb_image), resizes the shorter side to `resize` and crops `crop` x `crop` in one resampling pass
// that computes just the cropped pixels.
#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>

#include "data/readers.h"
#include "kernels/rng.h"

namespace cvg::data {

namespace fs = std::filesystem;

namespace {

const float kMeanRGB[3] = {123.f, 117.f, 104.f};  // Caffe's ImageNet mean, BGR (104, 117, 123), in RGB order
const uint64_t kCropStream = rng_stream("folder/crop");
const size_t kMaxPixels = (size_t)64 << 20;  // 8192x8192: above any photo of a dataset, ~200 MB decoded

bool is_image_name(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (auto& ch : ext) ch = (char)std::tolower((unsigned char)ch);
  return ext == "jpg" || ext == "jpeg" || ext == "png" || ext == "bmp" || ext == "ppm" || ext == "pgm";
}

void require_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw InputError(dir + ": not found");
  if (!fs::is_directory(dir, ec)) throw InputError(dir + ": not a folder");
}

// Names of the entries of `dir` (not starting with '.') that are folders (want_dirs) or image files.
std::vector<std::string> list(const std::string& dir, bool want_dirs) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code e2;
    if (want_dirs ? it->is_directory(e2) : (it->is_regular_file(e2) && is_image_name(name))) out.push_back(name);
  }
  if (ec) throw InputError(dir + ": cannot list (" + ec.message() + ")");
  std::sort(out.begin(), out.end());
  return out;
}

// stb_image 2.27 (Debian 12's libstb-dev) builds a JPEG Huffman table from 16 code counts without
// checking that they sum to at most 256, and writes past its 257-entry size list when they do
// (upstream fixed it in 2.28; found by fuzz/fuzz_image.cpp). Every FF C4 in the file is read the
// way stb reads a DHT segment there, so no table stb could build gets through unchecked.
void check_jpeg_huffman_tables(const std::vector<char>& file, const std::string& path) {
  const auto* b = reinterpret_cast<const uint8_t*>(file.data());
  const size_t n = file.size();
  // A JPEG to stb: 0xFF, any number of 0xFF fill bytes, then the start-of-image marker 0xD8.
  size_t soi = 0;
  while (soi < n && b[soi] == 0xFF) ++soi;
  if (soi == 0 || soi >= n || b[soi] != 0xD8) return;              // not a JPEG
  auto at = [&](size_t k) -> size_t { return k < n ? b[k] : 0; };  // stb reads zeros past the end
  for (size_t i = 2; i + 1 < n; ++i) {
    if (b[i] != 0xFF || b[i + 1] != 0xC4) continue;
    long left = (long)(at(i + 2) << 8 | at(i + 3)) - 2;
    size_t p = i + 4;
    while (left > 0 && p < n) {
      size_t codes = 0;
      for (size_t k = 1; k <= 16; ++k) codes += at(p + k);
      if (codes > 256)
        throw InputError(path + ": corrupt JPEG (a Huffman table declares " + std::to_string(codes) +
                         " codes, at most 256 exist)");
      p += 17 + codes;
      left -= 17 + (long)codes;
    }
  }
}

// stb_image reserves a PNG chunk's declared length before reading it: a 133-byte file declaring a
// 2 GB IDAT chunk made it allocate 2 GB (found by fuzz/fuzz_image.cpp). Every chunk must fit in the file.
void check_png_chunks(const std::vector<char>& file, const std::string& path) {
  const auto* b = reinterpret_cast<const uint8_t*>(file.data());
  const size_t n = file.size();
  if (n < 8 || std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0) return;  // not a PNG
  for (size_t p = 8; p + 8 <= n;) {
    const size_t len = (size_t)b[p] << 24 | (size_t)b[p + 1] << 16 | (size_t)b[p + 2] << 8 | b[p + 3];
    if (len > n - p - 8)
      throw InputError(path + ": truncated PNG (a chunk declares " + std::to_string(len) + " bytes, " +
                       std::to_string(n - p - 8) + " remain)");
    p += 12 + len;
  }
}

// stb_image 2.27 parses a PGM/PPM header's numbers into an int without an overflow check (signed
// overflow, found by fuzz/fuzz_image.cpp): the three header numbers must have at most 9 digits.
void check_pnm_header(const std::vector<char>& file, const std::string& path) {
  if (file.size() < 2 || file[0] != 'P' || (file[1] != '5' && file[1] != '6')) return;
  size_t p = 2;
  for (int field = 0; field < 3 && p < file.size(); ++field) {
    while (p < file.size() && (std::isspace((unsigned char)file[p]) || file[p] == '#')) {
      if (file[p] == '#')
        while (p < file.size() && file[p] != '\n' && file[p] != '\r') ++p;
      else
        ++p;
    }
    size_t digits = 0;
    while (p < file.size() && std::isdigit((unsigned char)file[p])) ++p, ++digits;
    if (digits > 9) throw InputError(path + ": PGM/PPM header number of " + std::to_string(digits) + " digits");
    if (digits == 0) return;  // not a number: stb reports the header as corrupt
  }
}

// Linear resampling taps along one axis, antialiased when shrinking (triangle filter widened to the
// scale factor): output pixel j of [first, first + len) of an `in` -> `out` resize reads source pixels
// src[offset[j] .. offset[j+1]) with weights w (summing to 1), edges replicated.
struct Axis {
  std::vector<int> offset, src;
  std::vector<float> w;
};

Axis make_axis(int in, int out, int first, int len) {
  const double scale = (double)out / in;
  const double support = std::max(1.0, 1.0 / scale);
  Axis a;
  a.offset.push_back(0);
  for (int j = first; j < first + len; ++j) {
    const double centre = (j + 0.5) / scale - 0.5;
    const int lo = (int)std::ceil(centre - support), hi = (int)std::floor(centre + support);
    const size_t begin = a.w.size();
    double sum = 0;
    for (int k = lo; k <= hi; ++k) {
      const double wk = 1.0 - std::fabs(k - centre) / support;
      if (wk <= 0) continue;
      a.src.push_back(std::clamp(k, 0, in - 1));
      a.w.push_back((float)wk);
      sum += wk;
    }
    for (size_t t = begin; t < a.w.size(); ++t) a.w[t] = (float)(a.w[t] / sum);
    a.offset.push_back((int)a.w.size());
  }
  return a;
}

class ImageFolder : public Dataset {
 public:
  ImageFolder(std::string name, std::vector<std::string> paths, std::vector<int32_t> labels, int classes, int resize, int crop)
      : name_(std::move(name)),
        paths_(std::move(paths)),
        labels_(std::move(labels)),
        classes_(classes),
        resize_(resize),
        crop_(crop) {}
  size_t size() const override { return paths_.size(); }
  int num_classes() const override { return classes_; }
  ImageShape shape() const override { return {3, crop_, crop_}; }
  Normalisation normalisation() const override {
    Normalisation n;
    for (int c = 0; c < 3; ++c) n.mean[c] = kMeanRGB[c] / 255.f, n.std[c] = 1.f / 255.f;
    return n;
  }
  std::string describe() const override { return describe_set(name_, size(), shape(), classes_); }

  int32_t load(size_t i, float* out, bool train, uint64_t aug_seed) const override {
    const std::string& path = paths_[i];
    int w = 0, h = 0, channels = 0;
    const std::vector<char> file = read_file(path);
    if (file.size() > (size_t)INT32_MAX) throw InputError(path + ": larger than 2 GB, not an image this reader takes");
    const auto* bytes = reinterpret_cast<const stbi_uc*>(file.data());
    // Before any stb call: stbi_info parses JPEG tables too.
    check_jpeg_huffman_tables(file, path);
    check_png_chunks(file, path);
    check_pnm_header(file, path);
    // stb_image 2.27 converts a 16-bit PNM (maxval > 255) to RGB with its 8-bit routine and then
    // reads twice the buffer (heap overflow; found by fuzz/fuzz_image.cpp, fixed upstream in 2.28).
    if (file.size() >= 2 && file[0] == 'P' && (file[1] == '5' || file[1] == '6') &&
        stbi_is_16_bit_from_memory(bytes, (int)file.size()))
      throw InputError(path + ": 16-bit PGM/PPM (maxval above 255) is not supported; convert it to 8 bits");
    // The header's size first: a file that declares 20000x20000 pixels must not get 1.2 GB per thread.
    if (stbi_info_from_memory(bytes, (int)file.size(), &w, &h, &channels) && (size_t)w * (size_t)h > kMaxPixels)
      throw InputError(path + ": image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels is larger than the " +
                       std::to_string(kMaxPixels >> 20) + " Mpixel limit");
    std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(bytes, (int)file.size(), &w, &h, &channels, 3),
                                                 stbi_image_free);
    if (!px) {
      const char* why = stbi_failure_reason();
      throw InputError(path + ": cannot decode image (" + (why ? why : "unknown error") + ")");
    }
    // stb accepts a PNM header of height 0 ("P6 2 0 255"): no pixels to resample from.
    if (w <= 0 || h <= 0)
      throw InputError(path + ": image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels is empty");
    // Shorter side -> resize_, aspect ratio kept.
    const int W = w <= h ? resize_ : std::max(resize_, (int)std::lround((double)w * resize_ / h));
    const int H = h <= w ? resize_ : std::max(resize_, (int)std::lround((double)h * resize_ / w));
    int ox = (W - crop_) / 2, oy = (H - crop_) / 2;
    bool mirror = false;
    if (train) {
      ox = (int)(rng_bits(aug_seed, kCropStream, 3 * i) % (uint64_t)(W - crop_ + 1));
      oy = (int)(rng_bits(aug_seed, kCropStream, 3 * i + 1) % (uint64_t)(H - crop_ + 1));
      mirror = rng_bits(aug_seed, kCropStream, 3 * i + 2) >> 63;
    }
    const Axis ax = make_axis(w, W, ox, crop_), ay = make_axis(h, H, oy, crop_);
    // Horizontal pass over the source rows the crop needs, then the vertical pass into CHW output.
    const int r0 = *std::min_element(ay.src.begin(), ay.src.end());
    const int r1 = *std::max_element(ay.src.begin(), ay.src.end());
    std::vector<float> rows((size_t)(r1 - r0 + 1) * crop_ * 3);
    const stbi_uc* p = px.get();
    for (int r = r0; r <= r1; ++r) {
      const stbi_uc* line = p + (size_t)r * w * 3;
      float* dst = &rows[(size_t)(r - r0) * crop_ * 3];
      for (int j = 0; j < crop_; ++j) {
        float acc[3] = {0, 0, 0};
        for (int t = ax.offset[j]; t < ax.offset[j + 1]; ++t)
          for (int c = 0; c < 3; ++c) acc[c] += ax.w[t] * line[ax.src[t] * 3 + c];
        for (int c = 0; c < 3; ++c) dst[j * 3 + c] = acc[c];
      }
    }
    const size_t plane = (size_t)crop_ * crop_;
    for (int y = 0; y < crop_; ++y) {
      for (int j = 0; j < crop_; ++j) {
        float acc[3] = {0, 0, 0};
        for (int t = ay.offset[y]; t < ay.offset[y + 1]; ++t) {
          const float* src = &rows[((size_t)(ay.src[t] - r0) * crop_ + j) * 3];
          for (int c = 0; c < 3; ++c) acc[c] += ay.w[t] * src[c];
        }
        const int x = mirror ? crop_ - 1 - j : j;
        for (int c = 0; c < 3; ++c) out[c * plane + (size_t)y * crop_ + x] = acc[c] - kMeanRGB[c];
      }
    }
    return labels_[i];
  }

 private:
  std::string name_;
  std::vector<std::string> paths_;
  std::vector<int32_t> labels_;
  int classes_, resize_, crop_;
};

}  // namespace

std::unique_ptr<Dataset> open_image_folder(const std::string& dir, const std::string& split, int resize, int crop) {
  if (crop > resize) throw InputError(dir + ": crop " + std::to_string(crop) + " larger than resize " + std::to_string(resize));
  require_dir(dir);
  const bool has_splits = fs::is_directory(dir + "/train");
  const std::string class_root = has_splits ? dir + "/train" : dir;
  const std::vector<std::string> classes = list(class_root, true);
  if (classes.empty()) throw InputError(class_root + ": no class subfolders");

  std::vector<std::string> paths;
  std::vector<int32_t> labels;
  if (has_splits) {
    const std::string root = split == "train" ? class_root : dir + "/val";
    require_dir(root);
    for (const auto& sub : list(root, true)) {
      auto it = std::lower_bound(classes.begin(), classes.end(), sub);
      if (it == classes.end() || *it != sub)
        throw InputError(root + "/" + sub + ": class not among the folders of " + class_root);
      const int32_t label = (int32_t)(it - classes.begin());
      const auto files = list(root + "/" + sub, false);
      if (files.empty() && split == "train") throw InputError(root + "/" + sub + ": no images");
      for (const auto& f : files) paths.push_back(root + "/" + sub + "/" + f), labels.push_back(label);
    }
  } else {
    // Deterministic 90/10 split per class: round(n/10) test files (>= 1 when n >= 2), evenly spread
    // over the name-sorted list.
    for (size_t label = 0; label < classes.size(); ++label) {
      const std::string sub = dir + "/" + classes[label];
      const auto files = list(sub, false);
      if (files.empty()) throw InputError(sub + ": no images");
      const size_t n = files.size();
      const size_t n_test = n < 2 ? 0 : std::max<size_t>(1, (n + 5) / 10);
      for (size_t k = 0; k < n; ++k) {
        const bool is_test = (k + 1) * n_test / n > k * n_test / n;
        if (is_test == (split == "test")) paths.push_back(sub + "/" + files[k]), labels.push_back((int32_t)label);
      }
    }
  }
  if (paths.empty()) throw InputError(dir + ": no " + split + " images");
  return std::make_unique<ImageFolder>("folder " + dir + " " + split, std::move(paths), std::move(labels), (int)classes.size(),
                                       resize, crop);
}

}  // namespace cvg::data
