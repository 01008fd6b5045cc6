// Image folders in the ImageNet layout, with CaffeNet's input recipe (see dataset.h for the split
// rules and the normalisation). Only the file list is read at open; each load() decodes its file
// (data/image_decode.h), resizes the shorter side to `resize` and crops `crop` x `crop` in one
// resampling pass that computes just the cropped pixels.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "data/image_decode.h"
#include "data/readers.h"
#include "kernels/rng.h"

namespace cvg::data {

namespace fs = std::filesystem;

namespace {

const float kMeanRGB[3] = {123.f, 117.f, 104.f};  // Caffe's ImageNet mean, BGR (104, 117, 123), in RGB order
const uint64_t kCropStream = rng_stream("folder/crop");

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
    const RgbImage im = decode_rgb(read_file(paths_[i]), paths_[i]);
    const int w = im.w, h = im.h;
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
    const uint8_t* p = im.px.get();
    for (int r = r0; r <= r1; ++r) {
      const uint8_t* line = p + (size_t)r * w * 3;
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
