// A sequential net built from a NetConfig on one device: the layers, their output tensors and
// gradients, parameter init from the counter RNG, forward, backward and the SGD step.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/config.h"
#include "nn/layers.h"

namespace cvg {

class Net {
 public:
  // input: per-sample [c, h, w] (the dataset's); num_classes resolves fc "classes".
  Net(const NetConfig& cfg, const std::vector<int>& input, int num_classes, const Device& dev, int max_batch);

  // Draws every parameter from (seed, parameter name) on the host and uploads it: a net is a pure
  // function of (config, seed) on any device. Zeroes the momenta.
  void init(uint64_t seed);
  // Copies n host samples (and labels, may be null for label-free forward passes) into the input.
  void set_batch(const float* x, const int32_t* labels, int n);
  // The same, for samples of `sample_shape` [c, h, w]: throws InputError unless it is the net's input
  // shape, so a caller's buffer of another image size can never be over- or under-read.
  void set_batch(const float* x, const int32_t* labels, int n, const std::vector<int>& sample_shape);
  void forward(bool train, long long iter);
  // The index of the current batch's first sample in the whole batch: data-parallel ranks each run a
  // slice, and dropout draws by that index, so the slices together get the whole batch's masks.
  void set_sample_offset(long long first) { sample0_ = first; }
  // Gradients of the mean loss of the last forward (which must have been train=true).
  void backward(long long iter);
  // Caffe's SGD on every parameter with the per-parameter multipliers.
  void sgd_step(float lr, float momentum, float weight_decay);

  struct Metrics {
    double loss_sum = 0;
    long long top1 = 0, top5 = 0, n = 0;
    void add(const Metrics& o) { loss_sum += o.loss_sum, top1 += o.top1, top5 += o.top5, n += o.n; }
  };
  Metrics metrics() const;  // of the last forward (copies n losses and ranks to the host)
  // What forward/backward hand every layer (bench_train --per-layer drives the layers itself).
  RunContext ctx(bool train, long long iter);

  std::vector<Param*> params();
  size_t num_params() const;
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  int layer_index(const std::string& name) const;  // throws InputError naming the net when absent
  const Tensor& output(int layer) const { return outputs_[layer]; }
  Tensor& grad(int layer) { return grads_[layer]; }

  // The units the paper analyses: each conv or fc layer, observed after its ReLU when one follows
  // (the layer kinds say which, nn/layers.cpp).
  std::vector<std::string> unit_layers() const;
  // The index of the layer whose output holds a unit layer's (post-ReLU) activations; throws
  // InputError when `layer` has no units.
  int units_index(const std::string& layer) const;
  // The tensor holding a unit layer's (post-ReLU) activations for the current batch.
  const Tensor& units(const std::string& layer) const;

  const NetConfig& config() const { return cfg_; }
  const Device& device() const { return dev_; }
  int max_batch() const { return max_batch_; }
  int batch() const { return n_; }
  uint64_t seed() const { return seed_; }
  const std::vector<int>& input_shape() const { return in_shape_; }
  int num_classes() const { return classes_; }
  Tensor input;
  Array<int32_t> labels;

 private:
  NetConfig cfg_;
  Device dev_;
  int max_batch_, n_ = 0, classes_;
  uint64_t seed_ = 0;
  long long sample0_ = 0;
  std::vector<int> in_shape_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Tensor> outputs_, grads_;
  Array<float> workspace_;
};

}  // namespace cvg
