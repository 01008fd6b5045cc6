// Internal to data/: the readers behind open_dataset(), and the in-memory byte-image set that the
// IDX and CIFAR readers share.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace cvg::data {

// Images stored as uint8 CHW in memory, normalised on load; no augmentation.
class ByteImages : public Dataset {
 public:
  ByteImages(std::string name, ImageShape shape, int classes, Normalisation norm, std::vector<uint8_t> pixels,
             std::vector<int32_t> labels);
  size_t size() const override { return labels_.size(); }
  int num_classes() const override { return classes_; }
  ImageShape shape() const override { return shape_; }
  Normalisation normalisation() const override { return norm_; }
  std::string describe() const override;
  int32_t load(size_t i, float* out, bool train, uint64_t aug_seed) const override;

 private:
  std::string name_;
  ImageShape shape_;
  int classes_;
  Normalisation norm_;
  std::vector<uint8_t> pixels_;
  std::vector<int32_t> labels_;
};

// "<name> <split>: N images CxHxW, K classes"
std::string describe_set(const std::string& name, size_t n, ImageShape s, int classes);

// IDX images + labels of a split ("train" -> train-*, "test" -> t10k-*), plain or .gz. `hint` is
// appended to the error when the files are missing.
std::unique_ptr<Dataset> open_idx(const std::string& name, const std::string& dir, const std::string& split, Normalisation norm,
                                  const std::string& hint = "");
// CIFAR binary, classes 10 or 100.
std::unique_ptr<Dataset> open_cifar(int classes, const std::string& dir, const std::string& split);
std::unique_ptr<Dataset> open_image_folder(const std::string& dir, const std::string& split, int resize = 256, int crop = 227);
std::unique_ptr<Dataset> open_synthetic(const std::string& split, size_t n_train, size_t n_test = 2000);

// Whole file, gunzipped when it is gzip (zlib reads plain files as they are).
std::vector<uint8_t> read_maybe_gz(const std::string& path);

}  // namespace cvg::data
