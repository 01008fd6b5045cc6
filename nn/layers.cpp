#include "nn/layers.h"

#include <cmath>

#include "kernels/act.h"
#include "kernels/conv.h"
#include "kernels/fc.h"
#include "kernels/loss.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/rng.h"
#include "nn/dispatch.h"
#include "base/io.h"

namespace cvg {
namespace {

[[noreturn]] void bad_shape(const LayerConfig& c, const std::vector<int>& in, const std::string& why) {
  throw InputError("layer " + c.name + " (" + c.type + "): input [" + std::to_string(in[0]) + ", " +
                   std::to_string(in[1]) + ", " + std::to_string(in[2]) + "]: " + why);
}

Param make_param(const LayerConfig& c, const char* suffix, std::vector<int> shape, const Device& dev, int which,
                 float std, float bias) {
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

// Weight std from the config: a number, or He/MSRA sqrt(2 / fan_in) when weight_std < 0.
float weight_std(const LayerConfig& c, int fan_in) { return c.weight_std > 0 ? c.weight_std : std::sqrt(2.0f / fan_in); }

class ConvLayer : public Layer {
 public:
  using Layer::Layer;
  ConvGeom g;
  std::vector<int> setup(const std::vector<int>& in, int max_batch, const Device& dev) override {
    g = ConvGeom{max_batch, in[0], in[1], in[2], cfg.num_output, cfg.kernel_size, cfg.kernel_size,
                 cfg.stride, cfg.pad, cfg.group};
    if (in[0] % cfg.group || cfg.num_output % cfg.group)
      bad_shape(cfg, in, "input channels and num_output must both divide by group " + std::to_string(cfg.group));
    if (in[1] + 2 * cfg.pad < cfg.kernel_size || in[2] + 2 * cfg.pad < cfg.kernel_size)
      bad_shape(cfg, in, "smaller than the kernel " + std::to_string(cfg.kernel_size));
    if (params.empty()) {
      int fan_in = in[0] / cfg.group * cfg.kernel_size * cfg.kernel_size;
      params.push_back(make_param(cfg, "weight", {cfg.num_output, in[0] / cfg.group, cfg.kernel_size, cfg.kernel_size},
                                  dev, 0, weight_std(cfg, fan_in), 0));
      params.push_back(make_param(cfg, "bias", {cfg.num_output}, dev, 1, 0, cfg.bias));
    }
    return {cfg.num_output, g.out_h(), g.out_w()};
  }
  size_t workspace_floats(const Device& dev) const override {
    return CVG_DISPATCH(dev, conv_workspace_floats, g);
  }
  ConvGeom at(int n) const { ConvGeom r = g; r.n = n; return r; }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), conv_forward, at(ctx.n), x.ptr(), params[0].value.ptr(), params[1].value.ptr(), y.ptr(), ctx.workspace);
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    const Device& d = x.device();
    CVG_DISPATCH(d, conv_backward_weights, at(ctx.n), x.ptr(), dy.ptr(), params[0].grad.ptr(), params[1].grad.ptr(), ctx.workspace);
    if (dx) CVG_DISPATCH(d, conv_backward_data, at(ctx.n), dy.ptr(), params[0].value.ptr(), dx->ptr(), ctx.workspace);
  }
};

class FcLayer : public Layer {
 public:
  using Layer::Layer;
  int in_features = 0, out_features = 0;
  std::vector<int> setup(const std::vector<int>& in, int, const Device& dev) override {
    in_features = in[0] * in[1] * in[2];
    out_features = cfg.num_output;
    if (out_features <= 0) bad_shape(cfg, in, "num_output \"classes\" was not resolved");
    if (params.empty()) {
      params.push_back(make_param(cfg, "weight", {out_features, in_features}, dev, 0, weight_std(cfg, in_features), 0));
      params.push_back(make_param(cfg, "bias", {out_features}, dev, 1, 0, cfg.bias));
    }
    return {out_features, 1, 1};
  }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), fc_forward, ctx.n, in_features, out_features, x.ptr(), params[0].value.ptr(), params[1].value.ptr(), y.ptr());
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    const Device& d = x.device();
    CVG_DISPATCH(d, fc_backward_weights, ctx.n, in_features, out_features, x.ptr(), dy.ptr(), params[0].grad.ptr(), params[1].grad.ptr());
    if (dx) CVG_DISPATCH(d, fc_backward_data, ctx.n, in_features, out_features, dy.ptr(), params[0].value.ptr(), dx->ptr());
  }
};

size_t per_sample(const std::vector<int>& s) { return (size_t)s[0] * s[1] * s[2]; }

class ReluLayer : public Layer {
 public:
  using Layer::Layer;
  std::vector<int> setup(const std::vector<int>& in, int, const Device&) override { return in; }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), relu_forward, ctx.n * per_sample(in_shape), x.ptr(), y.ptr());
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), relu_backward, ctx.n * per_sample(in_shape), y.ptr(), dy.ptr(), dx->ptr());
  }
};

class DropoutLayer : public Layer {
 public:
  using Layer::Layer;
  std::vector<int> setup(const std::vector<int>& in, int, const Device&) override { return in; }
  // A fresh mask per (net seed, layer, iteration); evaluation passes the input through.
  uint64_t stream(const RunContext& ctx) const { return rng_stream(cfg.name.c_str(), mix64((uint64_t)ctx.iter)); }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    size_t n = ctx.n * per_sample(in_shape);
    if (ctx.train) CVG_DISPATCH(x.device(), dropout_forward, n, cfg.ratio, ctx.seed, stream(ctx), x.ptr(), y.ptr());
    else device_copy(y.ptr(), y.device(), x.ptr(), x.device(), n * sizeof(float));
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), dropout_backward, ctx.n * per_sample(in_shape), cfg.ratio, ctx.seed, stream(ctx), dy.ptr(), dx->ptr());
  }
};

class MaxPoolLayer : public Layer {
 public:
  using Layer::Layer;
  PoolGeom g;
  Array<int32_t> argmax;  // the switches, kept for backward and the deconvnet
  std::vector<int> setup(const std::vector<int>& in, int max_batch, const Device& dev) override {
    g = PoolGeom{max_batch, in[0], in[1], in[2], cfg.kernel_size, cfg.stride, cfg.pad};
    if (in[1] + 2 * cfg.pad < cfg.kernel_size || in[2] + 2 * cfg.pad < cfg.kernel_size)
      bad_shape(cfg, in, "smaller than the pooling window " + std::to_string(cfg.kernel_size));
    argmax = Array<int32_t>(dev, g.y_size());
    return {in[0], g.out_h(), g.out_w()};
  }
  PoolGeom at(int n) const { PoolGeom r = g; r.n = n; return r; }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), maxpool_forward, at(ctx.n), x.ptr(), y.ptr(), argmax.data());
  }
  void backward(const Tensor& x, const Tensor&, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), maxpool_backward, at(ctx.n), dy.ptr(), argmax.data(), dx->ptr());
  }
};

class LrnLayer : public Layer {
 public:
  using Layer::Layer;
  LrnGeom g;
  Array<float> scale;
  std::vector<int> setup(const std::vector<int>& in, int max_batch, const Device& dev) override {
    g = LrnGeom{max_batch, in[0], in[1], in[2], cfg.local_size, cfg.alpha, cfg.beta, cfg.k};
    scale = Array<float>(dev, g.x_size());
    return in;
  }
  LrnGeom at(int n) const { LrnGeom r = g; r.n = n; return r; }
  void forward(const Tensor& x, Tensor& y, const RunContext& ctx) override {
    CVG_DISPATCH(x.device(), lrn_forward, at(ctx.n), x.ptr(), y.ptr(), scale.data());
  }
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor* dx, const RunContext& ctx) override {
    if (dx) CVG_DISPATCH(x.device(), lrn_backward, at(ctx.n), x.ptr(), y.ptr(), scale.data(), dy.ptr(), dx->ptr());
  }
};

}  // namespace

std::vector<int> SoftmaxLossLayer::setup(const std::vector<int>& in, int max_batch, const Device& dev) {
  if (in[1] != 1 || in[2] != 1) bad_shape(cfg, in, "softmax_loss needs an fc layer before it");
  loss = Array<float>(dev, max_batch);
  rank = Array<int32_t>(dev, max_batch);
  return in;
}

void SoftmaxLossLayer::forward(const Tensor& x, Tensor& y, const RunContext& ctx) {
  const Device& d = x.device();
  CVG_DISPATCH(d, softmax_xent_forward, ctx.n, in_shape[0], x.ptr(), labels->data(), y.ptr(), loss.data());
  CVG_DISPATCH(d, class_rank, ctx.n, in_shape[0], x.ptr(), labels->data(), rank.data());
}

void SoftmaxLossLayer::backward(const Tensor& x, const Tensor& y, const Tensor&, Tensor* dx, const RunContext& ctx) {
  if (dx) CVG_DISPATCH(x.device(), softmax_xent_backward, ctx.n, in_shape[0], y.ptr(), labels->data(), 1.0f / ctx.n, dx->ptr());
}

std::unique_ptr<Layer> make_layer(const LayerConfig& c) {
  if (c.type == "conv") return std::make_unique<ConvLayer>(c);
  if (c.type == "fc") return std::make_unique<FcLayer>(c);
  if (c.type == "relu") return std::make_unique<ReluLayer>(c);
  if (c.type == "dropout") return std::make_unique<DropoutLayer>(c);
  if (c.type == "maxpool") return std::make_unique<MaxPoolLayer>(c);
  if (c.type == "lrn") return std::make_unique<LrnLayer>(c);
  if (c.type == "softmax_loss") return std::make_unique<SoftmaxLossLayer>(c);
  throw InputError("layer " + c.name + ": unknown type " + c.type);
}

}  // namespace cvg
