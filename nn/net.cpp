#include "nn/net.h"

#include <algorithm>
#include <vector>

#include "kernels/init.h"
#include "kernels/rng.h"
#include "kernels/sgd.h"
#include "nn/dispatch.h"
#include "base/io.h"

namespace cvg {

Net::Net(const NetConfig& cfg, const std::vector<int>& input_shape, int num_classes, const Device& dev, int max_batch)
    : cfg_(cfg), dev_(dev), max_batch_(max_batch), classes_(num_classes), in_shape_(input_shape) {
  if (input_shape.size() != 3) throw InputError(cfg.path + ": input shape must be [c, h, w]");
  set_current(dev);
  input = Tensor(dev, {max_batch, in_shape_[0], in_shape_[1], in_shape_[2]});
  labels = Array<int32_t>(dev, max_batch);
  std::vector<int> shape = in_shape_;
  size_t ws = 0;
  // Memory is checked before each allocation, so a config that asks for too much (a huge pad, a huge
  // layer) is named with its layer instead of ending as "out of host memory" or an OOM kill.
  const double budget = (double)physical_memory_bytes();
  double total = 4.0 * 2 * max_batch * in_shape_[0] * in_shape_[1] * in_shape_[2];
  auto fits = [&](double bytes, const std::string& layer, const std::string& what) {
    total += bytes;
    if (total > budget)
      throw InputError(cfg.path + ": layer " + layer + ": " + what + " would take the net to " +
                       std::to_string((long long)(total / (1 << 20))) + " MiB, more than this machine's " +
                       std::to_string((long long)(budget / (1 << 20))) + " MiB");
  };
  for (const LayerConfig& lc : cfg.layers) {
    LayerConfig c = lc;
    if (c.num_output == -1) c.num_output = num_classes;
    const LayerKind& kind = layer_kind(c.type);
    std::vector<int> out;
    double param_floats = 0;
    try {
      out = kind.output(c, shape);
      for (const std::vector<int>& p : kind.params(c, shape)) param_floats += (double)Tensor::numel_of(p);
    } catch (const InputError& e) {
      throw InputError(cfg.path + ": " + e.what());
    }
    if (out[0] <= 0 || out[1] <= 0 || out[2] <= 0)
      throw InputError(cfg.path + ": layer " + c.name + ": output shape is empty for this input size");
    fits(4.0 * 3 * param_floats, c.name, "its parameters (value, momentum, gradient)");  // 0 for layers without
    const int pad = kind.step(c).pad;
    fits(4.0 * 2 * max_batch * (double)Tensor::numel_of(out), c.name,
         "its output of " + std::to_string(out[1]) + "x" + std::to_string(out[2]) +
             (pad ? " (pad " + std::to_string(pad) + ")" : ""));
    auto layer = kind.make(c);
    layer->setup(shape, max_batch, dev);
    shape = out;
    // One workspace serves every layer: only a layer that needs more than those below adds to it.
    const size_t need = layer->workspace_floats(dev);
    if (need > ws) fits(4.0 * (double)(need - ws), c.name, "its workspace"), ws = need;
    outputs_.emplace_back(dev, std::vector<int>{max_batch, shape[0], shape[1], shape[2]});
    grads_.emplace_back(dev, std::vector<int>{max_batch, shape[0], shape[1], shape[2]});
    layers_.push_back(std::move(layer));
  }
  auto* head = dynamic_cast<SoftmaxLossLayer*>(layers_.back().get());
  if (!head) throw InputError(cfg.path + ": the last layer must be softmax_loss");
  if (head->in_shape[0] != num_classes)
    throw InputError(cfg.path + ": the last fc layer has " + std::to_string(head->in_shape[0]) + " outputs but the data has " +
                     std::to_string(num_classes) + " classes (use \"num_output\": \"classes\")");
  head->labels = &labels;
  workspace_ = Array<float>(dev, ws);
}

void Net::init(uint64_t seed) {
  seed_ = seed;
  for (Param* p : params()) {
    std::vector<float> h(p->value.numel());
    if (p->init_std > 0)
      cpu::fill_gaussian(h.size(), h.data(), 0.0f, p->init_std, seed, rng_stream(p->name.c_str()));
    else
      cpu::fill_constant(h.size(), h.data(), p->init_bias);
    p->value.data.from_host(h);
    p->momentum.data.zero();
  }
}

void Net::set_batch(const float* x, const int32_t* lab, int n) {
  if (n < 1 || n > max_batch_)
    throw std::logic_error("batch of " + std::to_string(n) + " samples for a net allocated for " + std::to_string(max_batch_));
  n_ = n;
  size_t per = Tensor::numel_of(in_shape_);
  device_copy(input.ptr(), dev_, x, Device::cpu(), n * per * sizeof(float));
  if (lab)
    device_copy(labels.data(), dev_, lab, Device::cpu(), n * sizeof(int32_t));
  else
    labels.zero();
}

void Net::set_batch(const float* x, const int32_t* lab, int n, const std::vector<int>& sample_shape) {
  if (sample_shape != in_shape_) {
    auto str = [](const std::vector<int>& v) {
      std::string s;
      for (size_t k = 0; k < v.size(); ++k) s += (k ? "x" : "") + std::to_string(v[k]);
      return s;
    };
    throw InputError(cfg_.path + ": samples of shape " + str(sample_shape) + " fed to a net built for " + str(in_shape_));
  }
  set_batch(x, lab, n);
}

RunContext Net::ctx(bool train, long long iter) {
  RunContext c;
  c.n = n_, c.train = train, c.seed = seed_, c.iter = iter, c.sample0 = sample0_, c.workspace = workspace_.data();
  return c;
}

void Net::forward(bool train, long long iter) {
  RunContext c = ctx(train, iter);
  const Tensor* x = &input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(*x, outputs_[i], c);
    x = &outputs_[i];
  }
}

void Net::backward(long long iter) {
  RunContext c = ctx(true, iter);
  for (size_t i = layers_.size(); i-- > 0;) {
    const Tensor& x = i ? outputs_[i - 1] : input;
    Tensor* dx = i ? &grads_[i - 1] : nullptr;
    layers_[i]->backward(x, outputs_[i], grads_[i], dx, c);
  }
}

void Net::sgd_step(float lr, float momentum, float weight_decay) {
  for (Param* p : params())
    CVG_DISPATCH(dev_, sgd_update, p->value.numel(), p->value.ptr(), p->momentum.ptr(), p->grad.ptr(), lr * p->lr_mult, momentum,
                 weight_decay * p->decay_mult);
}

Net::Metrics Net::metrics() const {
  auto* head = static_cast<const SoftmaxLossLayer*>(layers_.back().get());
  std::vector<float> loss(n_);
  std::vector<int32_t> rank(n_);
  device_copy(loss.data(), Device::cpu(), head->loss.data(), dev_, n_ * sizeof(float));
  device_copy(rank.data(), Device::cpu(), head->rank.data(), dev_, n_ * sizeof(int32_t));
  Metrics m;
  m.n = n_;
  for (int i = 0; i < n_; ++i) m.loss_sum += loss[i], m.top1 += rank[i] < 1, m.top5 += rank[i] < 5;
  return m;
}

std::vector<Param*> Net::params() {
  std::vector<Param*> out;
  for (auto& l : layers_)
    for (auto& p : l->params) out.push_back(&p);
  return out;
}

size_t Net::num_params() const {
  size_t n = 0;
  for (auto& l : layers_)
    for (auto& p : l->params) n += p.value.numel();
  return n;
}

int Net::layer_index(const std::string& name) const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i]->cfg.name == name) return (int)i;
  throw InputError(cfg_.path + ": net " + cfg_.name + " has no layer '" + name + "'");
}

std::vector<std::string> Net::unit_layers() const {
  std::vector<std::string> out;
  for (auto& l : layers_)
    if (layer_kind(l->cfg.type).has_units) out.push_back(l->cfg.name);
  return out;
}

int Net::units_index(const std::string& layer) const {
  int i = layer_index(layer);
  const std::string& type = layers_[i]->cfg.type;
  if (!layer_kind(type).has_units)
    throw InputError("layer " + layer + " is a " + type + " layer; units live in " + unit_kind_names() + " layers");
  if (i + 1 < (int)layers_.size() && layer_kind(layers_[i + 1]->cfg.type).observes_units) ++i;
  return i;
}

const Tensor& Net::units(const std::string& layer) const { return outputs_[units_index(layer)]; }

}  // namespace cvg
