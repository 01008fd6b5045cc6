// open_dataset: the spec grammar, and the in-memory byte-image set shared by the IDX and CIFAR readers.
#include <utility>
#include <cstdlib>
#include <stdexcept>

#include "data/dataset.h"
#include "data/readers.h"

namespace cvg {
namespace data {

std::string describe_set(const std::string& name, size_t n, ImageShape s, int classes) {
  return name + ": " + std::to_string(n) + " images " + std::to_string(s.c) + "x" + std::to_string(s.h) + "x" +
         std::to_string(s.w) + ", " + std::to_string(classes) + " classes";
}

ByteImages::ByteImages(std::string name, ImageShape shape, int classes, Normalisation norm, std::vector<uint8_t> pixels,
                       std::vector<int32_t> labels)
    : name_(std::move(name)),
      shape_(shape),
      classes_(classes),
      norm_(norm),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)) {}

std::string ByteImages::describe() const { return describe_set(name_, size(), shape_, classes_); }

int32_t ByteImages::load(size_t i, float* out, bool, uint64_t) const {
  const size_t plane = (size_t)shape_.h * shape_.w;
  const uint8_t* p = pixels_.data() + i * shape_.size();
  for (int c = 0; c < shape_.c; ++c) {
    // x = (p/255 - mean) / std as one multiply-add
    const float scale = 1.0f / (255.0f * norm_.std[c]), shift = -norm_.mean[c] / norm_.std[c];
    for (size_t k = 0; k < plane; ++k) out[c * plane + k] = (float)p[c * plane + k] * scale + shift;
  }
  return labels_[i];
}

}  // namespace data

namespace {
const char* kFashionDir = "/usr/share/datasets/fashion-mnist";
const char* kSpecs = "fashion-mnist[:DIR], mnist:DIR, idx:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, synthetic[:N[:T]]";
// synthetic[:N[:T]]: N training images (default 10000), T test images (default 2000).
std::pair<size_t, size_t> synthetic_sizes(const std::string& spec) {
  size_t sizes[2] = {10000, 2000};
  const size_t first = spec.find(':');
  const std::string arg = first == std::string::npos ? "" : spec.substr(first + 1);
  const size_t colon = arg.find(':');
  const std::string parts[2] = {arg.substr(0, colon), colon == std::string::npos ? "" : arg.substr(colon + 1)};
  for (int k = 0; k < 2; ++k) {
    if (parts[k].empty() && colon == std::string::npos) continue;
    // Digits only: strtoll alone takes " 5" and "+5".
    const bool digits = !parts[k].empty() && parts[k].find_first_not_of("0123456789") == std::string::npos;
    const long long v = digits && parts[k].size() <= 10 ? std::stoll(parts[k]) : 0;
    if (v <= 0 || v > (1LL << 30))
      throw InputError(spec + ": expected synthetic[:N[:T]] with N, T positive integers (training and test images)");
    sizes[k] = (size_t)v;
  }
  return {sizes[0], sizes[1]};
}
}  // namespace

void check_dataset_kind(const std::string& spec) {
  const std::string kind = spec.substr(0, spec.find(':'));
  if (kind == "synthetic") synthetic_sizes(spec);  // its sizes too: no files to find them wrong later
  for (const char* k : {"fashion-mnist", "mnist", "idx", "cifar10", "cifar100", "folder", "synthetic"})
    if (kind == k) return;
  throw InputError(spec + ": unknown dataset (expected " + kSpecs + ")");
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const std::string& split, const std::string& data_dir) {
  if (split != "train" && split != "test") throw InputError(spec + ": split must be train or test, not '" + split + "'");
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  auto folder = [&]() {
    std::string dir = arg.empty() ? data_dir : arg;
    if (dir.empty()) throw InputError(spec + ": needs a folder (" + kind + ":DIR or --data-dir DIR)");
    return dir;
  };
  if (kind == "fashion-mnist") {
    std::string dir = !arg.empty() ? arg : !data_dir.empty() ? data_dir : kFashionDir;
    return data::open_idx("fashion-mnist " + split, dir, split, {{0.2860f}, {0.3530f}},
                          dir == kFashionDir ? " (install Debian's dataset-fashion-mnist, or pass --data-dir)" : "");
  }
  if (kind == "mnist") return data::open_idx("mnist " + split, folder(), split, {{0.1307f}, {0.3081f}});
  if (kind == "idx") return data::open_idx("idx " + split, folder(), split, {{0.5f}, {0.5f}});
  if (kind == "cifar10") return data::open_cifar(10, folder(), split);
  if (kind == "cifar100") return data::open_cifar(100, folder(), split);
  if (kind == "folder") return data::open_image_folder(folder(), split);
  if (kind == "synthetic") {
    const auto [train_images, test_images] = synthetic_sizes(spec);
    return data::open_synthetic(split, train_images, test_images);
  }
  check_dataset_kind(spec);
  throw std::logic_error(spec + ": dataset kind not opened");
}

}  // namespace cvg
