#include "nn/layers.h"

#include <climits>
#include <cmath>
#include <stdexcept>

#include "base/io.h"
#include "kernels/act.h"
#include "kernels/conv.h"
#include "kernels/fc.h"
#include "kernels/loss.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/rng.h"
#include "nn/config_reader.h"
#include "nn/dispatch.h"

namespace cvg {
namespace {

using Shape = std::vector<int>;

[[noreturn]] void bad_shape(const LayerConfig& c, const Shape& in, const std::string& why) {
  throw InputError("layer " + c.name + " (" + c.type + "): input [" + std::to_string(in[0]) + ", " + std::to_string(in[1]) +
                   ", " + std::to_string(in[2]) + "]: " + why);
}

// Weight std from the config: a number, or He/MSRA sqrt(2 / fan_in) when weight_std < 0.
float weight_std(const LayerConfig& c, int fan_in) { return c.weight_std > 0 ? c.weight_std : std::sqrt(2.0f / fan_in); }

Param make_param(const LayerConfig& c, const char* suffix, const Shape& shape, const Device& dev, int which, float std,
                 float bias) {
  Param p;
  p.name = c.name + "." + suffix;
  p.shape = shape;
  p.value = Tensor(dev, shape);
  p.grad = Tensor(dev, shape);
  p.momentum = Tensor(dev, shape);
  p.momentum.data.zero();
  p.grad.data.zero();
  p.lr_mult = c.lr_mult[which];
  p.decay_mult = c.decay_mult[which];
  p.init_std = std;
  p.init_bias = bias;
  return p;
}

// Shared entries of the kinds that need them.
void no_fields(ConfigReader&, LayerConfig&) {}
Shape same_shape(const LayerConfig&, const Shape& in) { return in; }
std::vector<Shape> no_params(const LayerConfig&, const Shape&) { return {}; }
WindowStep keeps_positions(const LayerConfig&) { return {}; }
template <class L>
std::unique_ptr<Layer> make(const LayerConfig& c) {
  return std::make_unique<L>(c);
}
// A layer's geometry, planned for its largest batch, for the n samples of this call.
template <class Geom>
Geom with_batch(Geom g, int n) {
  g.n = n;
  return g;
}

// The signal passes unchanged (n samples of the layer's input).
void pass_through(const Layer& l, const Tensor& dy, Tensor& dx, int n) {
  device_copy(dx.ptr(), dx.device(), dy.ptr(), dy.device(), n * Tensor::numel_of(l.in_shape) * sizeof(float));
}

// The fields of a layer with weights and bias (conv, fc), in Caffe's vocabulary.
void parse_weights_and_bias(ConfigReader& r, LayerConfig& c, bool classes_allowed) {
  using json = nlohmann::json;
  r.used.insert("num_output");
  const json& no = r.j.contains("num_output") ? r.j.at("num_output") : json();
  if (no.is_string() && no.get<std::string>() == "classes" && classes_allowed)
    c.num_output = -1;
  else if (in_range(no, 1, kMaxDim))
    c.num_output = no.get<int>();
  else
    r.fail("'num_output' must be a positive integer" + std::string(classes_allowed ? " or \"classes\"" : "") +
           " (at most 65536), got " + no.dump());
  r.used.insert("weight_std");
  if (r.j.contains("weight_std")) {
    const json& s = r.j.at("weight_std");
    if (s.is_string() && s.get<std::string>() == "msra")
      c.weight_std = -1;
    else if (s.is_number() && s.get<double>() > 0 && s.get<double>() < 1e30)
      c.weight_std = s.get<float>();
    else
      r.fail("'weight_std' must be a positive number or \"msra\", got " + s.dump());
  }
  c.bias = r.real("bias", 0.0f);
  r.pair("lr_mult", c.lr_mult);
  r.pair("decay_mult", c.decay_mult);
}

// ---- conv: Caffe's convolution, channel groups included; weight [out, in / group, k, k], bias [out].
// Projection (every mode): the transposed convolution with the same filters.

void parse_conv(ConfigReader& r, LayerConfig& c) {
  parse_weights_and_bias(r, c, false);
  c.kernel_size = r.positive("kernel_size", 1, kMaxWindow);
  c.stride = r.positive("stride", 1, kMaxWindow);
  c.pad = (int)r.integer("pad", 0, 0, kMaxWindow);
  c.group = r.positive("group", 1);
}
ConvGeom conv_geom(const LayerConfig& c, const Shape& in, int n) {
  return ConvGeom{n, in[0], in[1], in[2], c.num_output, c.kernel_size, c.kernel_size, c.stride, c.pad, c.group};
}
Shape conv_output(const LayerConfig& c, const Shape& in) {
  if (in[0] % c.group || c.num_output % c.group)
    bad_shape(c, in, "input channels and num_output must both divide by group " + std::to_string(c.group));
  if (in[1] + 2 * c.pad < c.kernel_size || in[2] + 2 * c.pad < c.kernel_size)
    bad_shape(c, in, "smaller than the kernel " + std::to_string(c.kernel_size));
  const ConvGeom g = conv_geom(c, in, 1);
  return {c.num_output, g.out_h(), g.out_w()};
}
std::vector<Shape> conv_params(const LayerConfig& c, const Shape& in) {
  return {{c.num_output, in[0] / c.group, c.kernel_size, c.kernel_size}, {c.num_output}};
}
WindowStep conv_step(const LayerConfig& c) { return {c.kernel_size, c.stride, c.pad}; }

class ConvLayer : public Layer {
 public:
  using Layer::Layer;
  ConvGeom g;
  void prepare(int max_batch, const Device&) override { g = conv_geom(cfg, in_shape, max_batch); }
  size_t workspace_floats(const Device& dev) const override { return CVG_DISPATCH(dev, conv_workspace_floats, g); }
  ConvGeom at(int n) const { return with_batch(g, n); }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), conv_forward, at(ctx.n), x.ptr(), params[0].value.ptr(), params[1].value.ptr(), y.ptr(),
                 ctx.workspace);
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    const Device& d = x.device();
    CVG_DISPATCH(d, conv_backward_weights, at(ctx.n), x.ptr(), dy.ptr(), params[0].grad.ptr(), params[1].grad.ptr(),
                 ctx.workspace);
    if (dx) CVG_DISPATCH(d, conv_backward_data, at(ctx.n), dy.ptr(), params[0].value.ptr(), dx->ptr(), ctx.workspace);
  }
  void project(ProjectionMode, const Tensor& x, const Tensor&, const Tensor& dy, Tensor& dx, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), conv_backward_data, at(ctx.n), dy.ptr(), params[0].value.ptr(), dx.ptr(), ctx.workspace);
  }
};

// ---- fc: inner product over the flattened input (C, H, W order); weight [out, in], bias [out].
// "num_output": "classes" is the dataset's number of classes. Projection: the transposed weights.

void parse_fc(ConfigReader& r, LayerConfig& c) { parse_weights_and_bias(r, c, true); }
Shape fc_output(const LayerConfig& c, const Shape& in) {
  if (c.num_output <= 0) bad_shape(c, in, "num_output \"classes\" was not resolved");
  if (Tensor::numel_of(in) > (size_t)INT_MAX) bad_shape(c, in, "more inputs than an fc layer can take (2^31 - 1)");
  return {c.num_output, 1, 1};
}
std::vector<Shape> fc_params(const LayerConfig& c, const Shape& in) {
  return {{c.num_output, (int)Tensor::numel_of(in)}, {c.num_output}};
}
WindowStep fc_step(const LayerConfig&) { return {1, 1, 0, true}; }

class FcLayer : public Layer {
 public:
  using Layer::Layer;
  int in_features = 0, out_features = 0;
  void prepare(int, const Device&) override {
    in_features = (int)Tensor::numel_of(in_shape);
    out_features = cfg.num_output;
  }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), fc_forward, ctx.n, in_features, out_features, x.ptr(), params[0].value.ptr(), params[1].value.ptr(),
                 y.ptr());
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    const Device& d = x.device();
    CVG_DISPATCH(d, fc_backward_weights, ctx.n, in_features, out_features, x.ptr(), dy.ptr(), params[0].grad.ptr(),
                 params[1].grad.ptr());
    if (dx) CVG_DISPATCH(d, fc_backward_data, ctx.n, in_features, out_features, dy.ptr(), params[0].value.ptr(), dx->ptr());
  }
  void project(ProjectionMode, const Tensor& x, const Tensor&, const Tensor& dy, Tensor& dx, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), fc_backward_data, ctx.n, in_features, out_features, dy.ptr(), params[0].value.ptr(), dx.ptr());
  }
};

// ---- relu: max(x, 0), in place of Caffe's; the units of the conv or fc layer below it are observed
// at its output. Projection: relu_down (nn/layers.h).

class ReluLayer : public Layer {
 public:
  using Layer::Layer;
  size_t count(const RunContext& ctx) const { return ctx.n * Tensor::numel_of(in_shape); }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), relu_forward, count(ctx), x.ptr(), y.ptr());
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), relu_backward, count(ctx), y.ptr(), dy.ptr(), dx->ptr());
  }
  void project(ProjectionMode mode, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
               const RunContext& ctx) override {
    relu_down(x.device(), mode, count(ctx), y.ptr(), dy.ptr(), dx.ptr());
  }
};

// ---- dropout: zeroes a fraction `ratio` in training (and scales the rest by 1 / (1 - ratio)); the
// identity in evaluation, hence in every projection.

void parse_dropout(ConfigReader& r, LayerConfig& c) {
  c.ratio = r.real("ratio", 0.5f);
  if (!(c.ratio >= 0 && c.ratio < 1)) r.fail("'ratio' must be in [0, 1)");
}

class DropoutLayer : public Layer {
 public:
  using Layer::Layer;
  size_t count(const RunContext& ctx) const { return ctx.n * Tensor::numel_of(in_shape); }
  // A fresh mask per (net seed, layer, iteration); evaluation passes the input through.
  uint64_t stream(const RunContext& ctx) const { return rng_stream(cfg.name.c_str(), mix64((uint64_t)ctx.iter)); }
  // Element e of sample s draws at s * (its size) + e: a rank's slice gets its part of the batch's mask.
  size_t offset(const RunContext& ctx) const { return (size_t)ctx.sample0 * Tensor::numel_of(in_shape); }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    if (ctx.train)
      CVG_DISPATCH(x.device(), dropout_forward, count(ctx), cfg.ratio, ctx.seed, stream(ctx), offset(ctx), x.ptr(), y.ptr());
    else
      pass_through(*this, x, y, ctx.n);
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), dropout_backward, count(ctx), cfg.ratio, ctx.seed, stream(ctx), offset(ctx), dy.ptr(),
                          dx->ptr());
  }
  void project(ProjectionMode, const Tensor&, const Tensor&, const Tensor& dy, Tensor& dx, const RunContext& ctx) override {
    pass_through(*this, dy, dx, ctx.n);
  }
};

// ---- maxpool: max over windows, output size rounded up (Caffe's); the forward pass records each
// window's argmax (the switches). Projection (every mode): unpooling, each value to its switch.

void parse_maxpool(ConfigReader& r, LayerConfig& c) {
  c.kernel_size = r.positive("kernel_size", 2, kMaxWindow);
  c.stride = r.positive("stride", c.kernel_size, kMaxWindow);
  c.pad = (int)r.integer("pad", 0, 0, c.kernel_size - 1);
}
PoolGeom pool_geom(const LayerConfig& c, const Shape& in, int n) {
  return PoolGeom{n, in[0], in[1], in[2], c.kernel_size, c.stride, c.pad};
}
Shape pool_output(const LayerConfig& c, const Shape& in) {
  if (in[1] + 2 * c.pad < c.kernel_size || in[2] + 2 * c.pad < c.kernel_size)
    bad_shape(c, in, "smaller than the pooling window " + std::to_string(c.kernel_size));
  const PoolGeom g = pool_geom(c, in, 1);
  return {in[0], g.out_h(), g.out_w()};
}
WindowStep pool_step(const LayerConfig& c) { return {c.kernel_size, c.stride, c.pad}; }

class MaxPoolLayer : public Layer {
 public:
  using Layer::Layer;
  PoolGeom g;
  Array<int32_t> argmax;  // the switches, kept for backward and the deconvnet
  void prepare(int max_batch, const Device& dev) override {
    g = pool_geom(cfg, in_shape, max_batch);
    argmax = Array<int32_t>(dev, g.y_size());
  }
  PoolGeom at(int n) const { return with_batch(g, n); }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), maxpool_forward, at(ctx.n), x.ptr(), y.ptr(), argmax.data());
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), maxpool_backward, at(ctx.n), dy.ptr(), argmax.data(), dx->ptr());
  }
  void project(ProjectionMode, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, const RunContext& ctx) override {
    backward(x, y, dy, &dx, ctx);
  }
};

// ---- lrn: Caffe's local response normalisation across channels (odd local_size).
// Projection: deconv skips it (the identity), as Z&F's deconvnet has no inverse for contrast
// normalisation and its tiny alpha (1e-4) makes it nearly the identity anyway; gradient and guided
// take its exact backward, so gradient mode is the true gradient of the activation.

void parse_lrn(ConfigReader& r, LayerConfig& c) {
  c.local_size = r.positive("local_size", 5, kMaxWindow);
  if (c.local_size % 2 == 0) r.fail("'local_size' must be odd (Caffe's across-channel LRN)");
  c.alpha = r.real("alpha", 1e-4f);
  if (c.alpha < 0) r.fail("'alpha' must be >= 0 (a negative one can make the scale k + alpha/size sum x^2 negative)");
  c.beta = r.real("beta", 0.75f);
  c.k = r.real("k", 1.0f);
  if (c.k <= 0) r.fail("'k' must be positive");
}

class LrnLayer : public Layer {
 public:
  using Layer::Layer;
  LrnGeom g;
  Array<float> scale;
  void prepare(int max_batch, const Device& dev) override {
    g = LrnGeom{max_batch, in_shape[0], in_shape[1], in_shape[2], cfg.local_size, cfg.alpha, cfg.beta, cfg.k};
    scale = Array<float>(dev, g.x_size());
  }
  LrnGeom at(int n) const { return with_batch(g, n); }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), lrn_forward, at(ctx.n), x.ptr(), y.ptr(), scale.data());
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), lrn_backward, at(ctx.n), x.ptr(), y.ptr(), scale.data(), dy.ptr(), dx->ptr());
  }
  void project(ProjectionMode mode, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
               const RunContext& ctx) override {
    if (mode == ProjectionMode::Deconv)
      pass_through(*this, dy, dx, ctx.n);
    else
      backward(x, y, dy, &dx, ctx);
  }
};

// ---- softmax_loss: the head (SoftmaxLossLayer, nn/layers.h), after the last fc layer.

Shape softmax_output(const LayerConfig& c, const Shape& in) {
  if (in[1] != 1 || in[2] != 1) bad_shape(c, in, "softmax_loss needs an fc layer before it");
  return in;
}

}  // namespace

void SoftmaxLossLayer::prepare(int max_batch, const Device& dev) {
  loss = Array<float>(dev, max_batch);
  rank = Array<int32_t>(dev, max_batch);
}

void SoftmaxLossLayer::forward(const Tensor& x, Tensor& y, const RunContext& ctx) {
  const Device& d = x.device();
  CVG_DISPATCH(d, softmax_xent_forward, ctx.n, in_shape[0], x.ptr(), labels->data(), y.ptr(), loss.data());
  CVG_DISPATCH(d, class_rank, ctx.n, in_shape[0], x.ptr(), labels->data(), rank.data());
}

void SoftmaxLossLayer::backward(const Tensor& x, const Tensor& y, const Tensor&, Tensor* dx, const RunContext& ctx) {
  if (dx) CVG_DISPATCH(x.device(), softmax_xent_backward, ctx.n, in_shape[0], y.ptr(), labels->data(), 1.0f / ctx.n, dx->ptr());
}

// Units live below the head, so no projection starts above it or passes through it.
void SoftmaxLossLayer::project(ProjectionMode, const Tensor&, const Tensor&, const Tensor&, Tensor&, const RunContext&) {
  throw std::logic_error("layer " + cfg.name + ": nothing is projected through the softmax_loss head");
}

// The registry: one row per kind, in the order error messages list them.
const std::vector<LayerKind>& layer_kinds() {
  static const std::vector<LayerKind> kinds = {
      // name, parse, output, params, step, make; has_units, observes_units, head
      {"conv", parse_conv, conv_output, conv_params, conv_step, make<ConvLayer>, true, false, false},
      {"relu", no_fields, same_shape, no_params, keeps_positions, make<ReluLayer>, false, true, false},
      {"maxpool", parse_maxpool, pool_output, no_params, pool_step, make<MaxPoolLayer>, false, false, false},
      {"lrn", parse_lrn, same_shape, no_params, keeps_positions, make<LrnLayer>, false, false, false},
      {"fc", parse_fc, fc_output, fc_params, fc_step, make<FcLayer>, true, false, false},
      {"dropout", parse_dropout, same_shape, no_params, keeps_positions, make<DropoutLayer>, false, false, false},
      {"softmax_loss", no_fields, softmax_output, no_params, keeps_positions, make<SoftmaxLossLayer>, false, false, true},
  };
  return kinds;
}

const LayerKind* find_layer_kind(const std::string& type) {
  for (const LayerKind& k : layer_kinds())
    if (type == k.name) return &k;
  return nullptr;
}

const LayerKind& layer_kind(const std::string& type) {
  if (const LayerKind* k = find_layer_kind(type)) return *k;
  throw InputError("unknown layer type '" + type + "' (expected " + layer_kind_names() + ")");
}

std::string layer_kind_names() {
  std::string s;
  for (const LayerKind& k : layer_kinds()) s += (s.empty() ? "" : ", ") + std::string(k.name);
  return s;
}

std::string unit_kind_names() {
  std::vector<std::string> names;
  for (const LayerKind& k : layer_kinds())
    if (k.has_units) names.push_back(k.name);
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return s;
}

bool LayerConfig::has_params() const { return layer_kind(type).has_units; }

const std::vector<int>& Layer::setup(const std::vector<int>& in, int max_batch, const Device& dev) {
  const LayerKind& kind = layer_kind(cfg.type);
  in_shape = in;
  out_shape = kind.output(cfg, in);
  if (params.empty()) {
    const std::vector<Shape> shapes = kind.params(cfg, in);
    if (!shapes.empty()) {
      const int fan_in = (int)(Tensor::numel_of(shapes[0]) / shapes[0][0]);
      params.push_back(make_param(cfg, "weight", shapes[0], dev, 0, weight_std(cfg, fan_in), 0));
      params.push_back(make_param(cfg, "bias", shapes[1], dev, 1, 0, cfg.bias));
    }
  }
  prepare(max_batch, dev);
  return out_shape;
}

void relu_down(const Device& dev, ProjectionMode mode, size_t n, const float* y, const float* dy, float* dx) {
  switch (mode) {
    case ProjectionMode::Gradient:
      CVG_DISPATCH(dev, relu_backward, n, y, dy, dx);
      break;
    case ProjectionMode::Deconv:
      CVG_DISPATCH(dev, relu_forward, n, dy, dx);
      break;
    case ProjectionMode::Guided:
      CVG_DISPATCH(dev, relu_backward, n, y, dy, dx);
      CVG_DISPATCH(dev, relu_forward, n, dx, dx);
      break;
  }
}

}  // namespace cvg
