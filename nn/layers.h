// The layers of a sequential net, and the one place per layer kind: nn/layers.cpp holds, for each
// kind, its config fields, output shape, parameter shapes, receptive-field step, where its units are
// observed, its forward and backward, and its rule for taking a unit's signal back down to the
// pixels (the deconvnet). Config parsing, the net, receptive fields and projections ask the kind
// (layer_kind) instead of naming kinds. A layer is a thin adapter from a LayerConfig to a kernel
// family: the math lives in kernels/, the layer only holds geometry, parameters and saved state.
// Shapes: a layer maps a per-sample shape [c, h, w] to another; tensors carry the batch in front,
// allocated for the net's largest batch, and a call works on the first ctx.n samples.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/config.h"
#include "nn/tensor.h"

namespace cvg {

struct ConfigReader;
class Layer;

struct Param {
  std::string name;  // "conv1.weight", "conv1.bias"
  std::vector<int> shape;
  Tensor value, grad, momentum;
  float lr_mult = 1, decay_mult = 1;
  float init_std = 0, init_bias = 0;  // std > 0: Gaussian, else constant init_bias
};

struct RunContext {
  int n = 0;                   // samples in this batch (<= the allocated batch)
  bool train = false;          // dropout on, and gradients wanted
  uint64_t seed = 0;           // the net's seed (dropout masks)
  long long iter = 0;          // the iteration (dropout masks differ per iteration)
  long long sample0 = 0;       // the first sample's index in the whole batch (an MPI rank's slice; dropout masks)
  float* workspace = nullptr;  // scratch shared by all layers, on the net's device
};

// How a signal goes down through a layer when a unit is projected to pixel space
// (analysis/vis/deconv.h): Zeiler & Fergus's deconvnet, guided backpropagation, or the gradient.
enum class ProjectionMode { Deconv, Guided, Gradient };

// A receptive-field step: output position o of the layer sees its input positions
// o * stride - pad .. + kernel - 1 (layers that keep positions: 1, 1, 0); whole_input: every output
// sees all of its input (fc).
struct WindowStep {
  int kernel = 1, stride = 1, pad = 0;
  bool whole_input = false;
};

// Everything the engine knows about one layer kind. Every entry is set for every kind (tested).
struct LayerKind {
  const char* name;  // the config's "type"
  // Reads and checks the kind's own fields of a layer's JSON object; fields it leaves unread are
  // refused afterwards as unknown.
  void (*parse)(ConfigReader& r, LayerConfig& c);
  // The per-sample output shape [c, h, w] for a per-sample input; throws InputError naming the layer
  // when the input does not fit. Pure: the net checks memory with it before allocating anything.
  std::vector<int> (*output)(const LayerConfig& c, const std::vector<int>& in);
  // The learned parameters' shapes: none, or the weight's and the bias's (in that order).
  std::vector<std::vector<int>> (*params)(const LayerConfig& c, const std::vector<int>& in);
  WindowStep (*step)(const LayerConfig& c);
  std::unique_ptr<Layer> (*make)(const LayerConfig& c);
  bool has_units;       // its output channels are units the paper compares (conv, fc)
  bool observes_units;  // a unit layer right below it is observed at its output: "after the ReLU"
  bool head;            // the loss that ends every net, and only there (softmax_loss)
};

const std::vector<LayerKind>& layer_kinds();
const LayerKind* find_layer_kind(const std::string& type);  // nullptr when unknown
// Throws InputError "unknown layer type 'x' (expected conv, relu, ...)".
const LayerKind& layer_kind(const std::string& type);
std::string layer_kind_names();  // "conv, relu, maxpool, ..."
std::string unit_kind_names();   // "conv and fc"

class Layer {
 public:
  explicit Layer(LayerConfig c) : cfg(std::move(c)) {}
  virtual ~Layer() = default;
  // Fixes in_shape and out_shape (the kind's output()) for a per-sample input, creates the
  // parameters (on `dev`) on the first call, and the kind's own state for `max_batch` samples.
  // Throws InputError naming the layer on a bad shape.
  const std::vector<int>& setup(const std::vector<int>& in, int max_batch, const Device& dev);
  virtual void forward(const Tensor& x, Tensor& y, const RunContext& ctx) = 0;
  // dx may be null (first layer: no gradient to the data needed).
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) = 0;
  // Takes a projection's signal dy at this layer's output down to its input (dx), after an
  // evaluation-mode forward; parameters and their gradients are left alone. Each kind's rule is
  // written beside it in nn/layers.cpp.
  virtual void project(ProjectionMode mode, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
                       const RunContext& ctx) = 0;
  virtual size_t workspace_floats(const Device& dev) const { return 0; }

  LayerConfig cfg;
  std::vector<Param> params;
  std::vector<int> in_shape, out_shape;

 protected:
  // The kind's own state once the shapes are fixed: geometry, switches, scales.
  virtual void prepare(int max_batch, const Device& dev) {}
};

// The ReLU's projection rule for n values on `dev` (dx may alias dy), with y the ReLU's forward
// output and s the signal coming down:
//   gradient  s * [y > 0]            (the chain rule)
//   deconv    max(s, 0)              (Z&F: rectify the signal, ignore the forward mask)
//   guided    max(s, 0) * [y > 0]    (guided backpropagation: both)
void relu_down(const Device& dev, ProjectionMode mode, size_t n, const float* y, const float* dy, float* dx);

// The softmax-with-loss head: forward writes the class probabilities as its output and fills
// per-sample losses and true-class ranks (top-1 is rank 0) for the labels it is pointed at;
// backward ignores dy (it starts the chain) and writes d(mean loss)/d(logits).
class SoftmaxLossLayer : public Layer {
 public:
  using Layer::Layer;
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override;
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) override;
  void project(ProjectionMode mode, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
               const RunContext& ctx) override;
  const Array<int32_t>* labels = nullptr;  // set by the net, [max_batch] on the net's device
  Array<float> loss;                       // [max_batch]
  Array<int32_t> rank;                     // [max_batch]

 protected:
  void prepare(int max_batch, const Device& dev) override;
};

}  // namespace cvg
