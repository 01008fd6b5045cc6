// Datasets and the batch loader.
//
// A Dataset is a random-access set of labelled images: load(i) decodes sample i as float CHW.
// Everything random about a sample (augmentation, the synthetic set's content) is drawn from the
// counter RNG (kernels/rng.h), so a sample is a pure function of its index and seeds: the same on
// any thread, in any order, after any resume.
//
// Specs accepted by open_dataset (split is "train" or "test"):
//   fashion-mnist      IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
//                      t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) in data_dir, default
//                      /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist). 1x28x28,
//                      10 classes, x = (p/255 - 0.2860) / 0.3530 (the training set's mean and std).
//   mnist:DIR          same layout, x = (p/255 - 0.1307) / 0.3081.
//   idx:DIR            same layout, images of up to 4096x4096, 10 classes, x = (p/255 - 0.5) / 0.5.
//   cifar10:DIR        data_batch_1..5.bin / test_batch.bin (DIR or DIR/cifar-10-batches-bin). 3x32x32 RGB,
//                      x = (p/255 - mean[c]) / std[c], mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
//   cifar100:DIR       train.bin / test.bin (DIR or DIR/cifar-100-binary), fine labels (100 classes);
//                      mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
//   folder:DIR         ImageNet layout, one subfolder per class (classes sorted by name; files .jpg .jpeg
//                      .png .bmp .ppm .pgm, case-insensitive, others ignored). If DIR/train exists, the
//                      splits are DIR/train and DIR/val; otherwise every class folder of DIR is split
//                      deterministically: of a class's n name-sorted files, round(n/10) (at least 1 when
//                      n >= 2) evenly spread ones are "test", the rest "train". CaffeNet's recipe: the
//                      shorter side is resized to 256 (antialiased bilinear), then a 227x227 crop: random
//                      position + random mirror for training, the centre for evaluation. 3x227x227 in RGB
//                      order, x = p - mean[c] on the 0..255 scale with ImageNet's mean (123, 117, 104)
//                      (Caffe's BGR (104, 117, 123) in RGB order), i.e. mean = that / 255 and std = 1/255.
//                      Decoding (data/image_decode.h): 8 bits per channel (16-bit PNGs are reduced, 16-bit
//                      PGM/PPM refused), grey to RGB, an alpha channel dropped (not composited), JPEG EXIF
//                      orientation not applied; at most 16384 pixels a side and 64 Mpixel; a PNG's chunk
//                      CRCs are checked (a damaged PNG is refused, not decoded to other pixels).
//   synthetic[:N[:T]]  procedural shapes/textures/colours (data/synthetic.cpp), 3x32x32, 10 classes,
//                      N train images (default 10000), T test images (default 2000); label of sample i is i % 10.
// Every file problem (missing, corrupt, truncated, mismatched, bad label) throws
// InputError("<file>: <what is wrong>").
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/io.h"

namespace cvg {

struct ImageShape {
  int c, h, w;
  size_t size() const { return (size_t)c * h * w; }
};

// How stored pixels p (0..255, channel c) become inputs: x = (p/255 - mean[c]) / std[c].
// Visualisation inverts it: p = 255 * (x * std[c] + mean[c]).
struct Normalisation {
  float mean[3], std[3];
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual int num_classes() const = 0;
  virtual ImageShape shape() const = 0;  // one sample as delivered (after cropping)
  virtual Normalisation normalisation() const = 0;
  virtual std::string describe() const = 0;  // "fashion-mnist test: 10000 images 1x28x28, 10 classes"
  // Writes sample i as float CHW into out (shape().size() floats) and returns its label. `train`
  // turns on training augmentation (folder: random crop + mirror; others have none), drawn from the
  // counter RNG keyed by (aug_seed, i). Thread-safe; throws InputError for an undecodable file.
  virtual int32_t load(size_t i, float* out, bool train, uint64_t aug_seed) const = 0;
};

// The samples `indices` of another dataset, in that order: an MPI rank's shard of the images.
// Sample i is the base's sample indices[i] (augmentation keyed by the base index, so a sample looks
// the same in the shard as in the whole). The base must outlive it.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(const Dataset& base, std::vector<size_t> indices) : base_(base), idx_(std::move(indices)) {}
  size_t size() const override { return idx_.size(); }
  int num_classes() const override { return base_.num_classes(); }
  ImageShape shape() const override { return base_.shape(); }
  Normalisation normalisation() const override { return base_.normalisation(); }
  std::string describe() const override { return base_.describe() + " (" + std::to_string(idx_.size()) + " of them here)"; }
  int32_t load(size_t i, float* out, bool train, uint64_t aug_seed) const override {
    return base_.load(idx_.at(i), out, train, aug_seed);
  }

 private:
  const Dataset& base_;
  std::vector<size_t> idx_;
};

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const std::string& split, const std::string& data_dir = "");
// Throws InputError unless spec names a dataset kind open_dataset knows, with synthetic's sizes valid
// (for tools that only record a spec, such as bin/import, and must not accept a typo the later tools
// would trip over).
void check_dataset_kind(const std::string& spec);

// Batches in an order that is a pure function of (order_seed, epoch).
//
// Position: (epoch, index) of the NEXT batch next() delivers. next() delivers batch `index` of epoch
// `epoch` and advances; after the last batch of an epoch it moves to (epoch + 1, 0). So next() cycles
// through epochs forever:
//   training:   Loader(train_set, B, true, true, true, seed) and call next() as often as needed;
//               epoch() tells which epoch the next batch belongs to.
//   evaluation: Loader(test_set, B, false, false, false, 0) and call next() batches_per_epoch() times
//               for one pass over every sample (the last batch may be partial); the loader is then at
//               the start of the next epoch, ready for the next evaluation.
// Epoch e's order is a Fisher-Yates shuffle keyed by (order_seed, e), or 0..n-1 when !shuffle.
// drop_last: batches_per_epoch = n / batch (full batches only), else ceil(n / batch) and the last
// batch of the epoch has n % batch samples. Augmentation of epoch e uses aug_seed = epoch_aug_seed(
// order_seed, e), so crops differ between epochs yet replay exactly.
// `threads` background threads decode the next few batches while the caller works (threads = 0:
// decode inside next()); batches are identical for any thread count. seek() discards work in flight.
// A decoding error (InputError) is rethrown by the next() that would deliver the affected batch.
// The dataset must outlive the loader. next(), seek() and batch_indices() are for one calling thread.
class Loader {
 public:
  Loader(const Dataset& ds, int batch, bool shuffle, bool train_augment, bool drop_last, uint64_t order_seed, int threads = 2);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Fills x [batch, c, h, w] and labels [batch] (only the first `count` entries) and returns count.
  int next(float* x, int32_t* labels);
  int64_t epoch() const { return epoch_; }
  int64_t index() const { return index_; }
  void seek(int64_t epoch, int64_t index);
  size_t batches_per_epoch() const { return batches_per_epoch_; }
  int batch() const { return batch_; }
  const Dataset& dataset() const { return ds_; }
  // The sample indices of batch `index` of epoch `epoch` (pure function, no decoding).
  std::vector<size_t> batch_indices(int64_t epoch, int64_t index) const;

  static uint64_t epoch_aug_seed(uint64_t order_seed, int64_t epoch);

 private:
  struct Prefetcher;  // background threads and their ring of batches (data/loader.cpp)
  const std::vector<size_t>& order_for(int64_t epoch) const;
  void advance();

  const Dataset& ds_;
  const int batch_;
  const bool shuffle_, augment_;
  const uint64_t order_seed_;
  size_t batches_per_epoch_;
  int64_t epoch_ = 0, index_ = 0;
  mutable int64_t order_epoch_ = -1;  // the epoch whose order order_ caches
  mutable std::vector<size_t> order_;
  std::unique_ptr<Prefetcher> prefetch_;  // null when threads = 0
};

}  // namespace cvg
