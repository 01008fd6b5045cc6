// The layers of a sequential net. Each is a thin adapter from a LayerConfig to a kernel family:
// the math lives in kernels/, the layer only holds geometry, parameters and saved state.
// Shapes: a layer maps a per-sample shape [c, h, w] to another; tensors carry the batch in front,
// allocated for the net's largest batch, and a call works on the first ctx.n samples.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/config.h"
#include "nn/tensor.h"

namespace cvg {

struct Param {
  std::string name;  // "conv1.weight", "conv1.bias"
  std::vector<int> shape;
  Tensor value, grad, momentum;
  float lr_mult = 1, decay_mult = 1;
  float init_std = 0, init_bias = 0;  // std > 0: Gaussian, else constant init_bias
};

struct RunContext {
  int n = 0;            // samples in this batch (<= the allocated batch)
  bool train = false;   // dropout on, and gradients wanted
  uint64_t seed = 0;    // the net's seed (dropout masks)
  long long iter = 0;   // the iteration (dropout masks differ per iteration)
  float* workspace = nullptr;  // scratch shared by all layers, on the net's device
};

class Layer {
 public:
  explicit Layer(LayerConfig c) : cfg(std::move(c)) {}
  virtual ~Layer() = default;
  // Fixes the geometry for a per-sample input shape and returns the output shape; creates the
  // parameters (on `dev`) on the first call. Throws InputError naming the layer on a bad shape.
  virtual std::vector<int> setup(const std::vector<int>& in, int max_batch, const Device& dev) = 0;
  virtual void forward(const Tensor& x, Tensor& y, const RunContext& ctx) = 0;
  // dx may be null (first layer: no gradient to the data needed).
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) = 0;
  virtual size_t workspace_floats(const Device& dev) const { return 0; }

  LayerConfig cfg;
  std::vector<Param> params;
  std::vector<int> in_shape, out_shape;
};

std::unique_ptr<Layer> make_layer(const LayerConfig& c);

// The softmax-with-loss head: forward writes the class probabilities as its output and fills
// per-sample losses and true-class ranks (top-1 is rank 0) for the labels it is pointed at;
// backward ignores dy (it starts the chain) and writes d(mean loss)/d(logits).
class SoftmaxLossLayer : public Layer {
 public:
  using Layer::Layer;
  std::vector<int> setup(const std::vector<int>& in, int max_batch, const Device& dev) override;
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) override;
  const Array<int32_t>* labels = nullptr;  // set by the net, [max_batch] on the net's device
  Array<float> loss;                        // [max_batch]
  Array<int32_t> rank;                      // [max_batch]
};

}  // namespace cvg
