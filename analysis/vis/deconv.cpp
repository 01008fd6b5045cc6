#include "analysis/vis/deconv.h"

#include <algorithm>
#include <stdexcept>

#include "kernels/act.h"
#include "kernels/conv.h"
#include "kernels/fc.h"
#include "nn/dispatch.h"
#include "base/io.h"
#include "nn/net.h"

namespace cvg {

ProjectionMode parse_projection_mode(const std::string& s) {
  if (s == "deconv") return ProjectionMode::Deconv;
  if (s == "guided") return ProjectionMode::Guided;
  if (s == "gradient") return ProjectionMode::Gradient;
  throw InputError("unknown projection mode '" + s + "' (deconv | guided | gradient)");
}

const char* projection_mode_name(ProjectionMode m) {
  switch (m) {
    case ProjectionMode::Deconv: return "deconv";
    case ProjectionMode::Guided: return "guided";
    case ProjectionMode::Gradient: return "gradient";
  }
  return "?";
}

void relu_down(const Device& dev, ProjectionMode mode, size_t n, const float* y, const float* dy, float* dx) {
  switch (mode) {
    case ProjectionMode::Gradient: CVG_DISPATCH(dev, relu_backward, n, y, dy, dx); break;
    case ProjectionMode::Deconv: CVG_DISPATCH(dev, relu_forward, n, dy, dx); break;
    case ProjectionMode::Guided:
      CVG_DISPATCH(dev, relu_backward, n, y, dy, dx);
      CVG_DISPATCH(dev, relu_forward, n, dx, dx);
      break;
  }
}

namespace {

size_t per_sample(const std::vector<int>& s) { return (size_t)s[0] * s[1] * s[2]; }

ConvGeom conv_geom(const Layer& l, int n) {
  const LayerConfig& c = l.cfg;
  return ConvGeom{n, l.in_shape[0], l.in_shape[1], l.in_shape[2], c.num_output, c.kernel_size, c.kernel_size,
                  c.stride, c.pad, c.group};
}

}  // namespace

Projector::Projector(Net& net, const std::string& layer) : net_(net) {
  int i = net.layer_index(layer);
  const auto& layers = net.layers();
  if (!layers[i]->cfg.has_params())
    throw InputError("layer " + layer + " is a " + layers[i]->cfg.type + " layer; units live in conv and fc layers");
  top_ = (i + 1 < (int)layers.size() && layers[i + 1]->cfg.type == "relu") ? i + 1 : i;
  size_t ws = 0;
  for (int l = 0; l <= top_; ++l) {
    const std::string& t = layers[l]->cfg.type;
    if (t == "conv") ws = std::max(ws, CVG_DISPATCH(net.device(), conv_workspace_floats, conv_geom(*layers[l], net.max_batch())));
    else if (t != "fc" && t != "relu" && t != "maxpool" && t != "lrn" && t != "dropout")
      throw InputError("layer " + layers[l]->cfg.name + ": cannot project through a " + t + " layer");
  }
  set_current(net.device());
  ws_ = Array<float>(net.device(), ws);
  const std::vector<int>& in = net.input_shape();
  dinput_ = Tensor(net.device(), {net.max_batch(), in[0], in[1], in[2]});
}

std::vector<float> Projector::project_batch(const std::vector<UnitAt>& at, ProjectionMode mode, std::vector<float>* acts) {
  const int n = (int)at.size();
  if (n < 1 || n > net_.batch())
    throw std::logic_error("project_batch: " + std::to_string(n) + " requests for a batch of " + std::to_string(net_.batch()));
  const Device& dev = net_.device();
  const auto& layers = net_.layers();
  const std::vector<int>& ts = layers[top_]->out_shape;
  const size_t per_top = per_sample(ts);

  // The seed: zero everywhere but the chosen activation of each sample, which keeps its value.
  Tensor& seed = net_.grad(top_);
  device_memset0(dev, seed.ptr(), n * per_top * sizeof(float));
  if (acts) acts->assign(n, 0.0f);
  for (int i = 0; i < n; ++i) {
    const UnitAt& a = at[i];
    if (a.unit < 0 || a.unit >= ts[0] || a.y < 0 || a.y >= ts[1] || a.x < 0 || a.x >= ts[2])
      throw std::logic_error("project_batch: unit " + std::to_string(a.unit) + " at (" + std::to_string(a.y) + ", " +
                             std::to_string(a.x) + ") is outside the layer's [" + std::to_string(ts[0]) + ", " +
                             std::to_string(ts[1]) + ", " + std::to_string(ts[2]) + "]");
    size_t off = i * per_top + ((size_t)a.unit * ts[1] + a.y) * ts[2] + a.x;
    float v = 0;
    device_copy(&v, Device::cpu(), net_.output(top_).ptr() + off, dev, sizeof(float));
    device_copy(seed.ptr() + off, dev, &v, Device::cpu(), sizeof(float));
    if (acts) (*acts)[i] = v;
  }

  RunContext ctx;
  ctx.n = n, ctx.train = false, ctx.seed = net_.seed(), ctx.workspace = ws_.data();
  for (int l = top_; l >= 0; --l) {
    Layer& L = *layers[l];
    const Tensor& x = l ? net_.output(l - 1) : net_.input;
    const Tensor& y = net_.output(l);
    const Tensor& dy = net_.grad(l);
    Tensor& dx = l ? net_.grad(l - 1) : dinput_;
    const std::string& t = L.cfg.type;
    const size_t n_in = n * per_sample(L.in_shape);
    if (t == "conv") {
      CVG_DISPATCH(dev, conv_backward_data, conv_geom(L, n), dy.ptr(), L.params[0].value.ptr(), dx.ptr(), ws_.data());
    } else if (t == "fc") {
      CVG_DISPATCH(dev, fc_backward_data, n, (int)per_sample(L.in_shape), L.cfg.num_output, dy.ptr(),
                   L.params[0].value.ptr(), dx.ptr());
    } else if (t == "relu") {
      relu_down(dev, mode, n_in, y.ptr(), dy.ptr(), dx.ptr());
    } else if (t == "maxpool" || (t == "lrn" && mode != ProjectionMode::Deconv)) {
      L.backward(x, y, dy, &dx, ctx);  // unpooling by the switches / LRN's exact backward
    } else {  // dropout (evaluation), and lrn in deconv mode: identity
      device_copy(dx.ptr(), dev, dy.ptr(), dev, n_in * sizeof(float));
    }
  }
  std::vector<float> out(n * per_sample(net_.input_shape()));
  device_copy(out.data(), Device::cpu(), dinput_.ptr(), dev, out.size() * sizeof(float));
  return out;
}

std::vector<float> Projector::project(const float* images, const std::vector<UnitAt>& at, ProjectionMode mode,
                                      std::vector<float>* acts) {
  const size_t per = per_sample(net_.input_shape());
  std::vector<float> out;
  out.reserve(at.size() * per);
  if (acts) acts->clear();
  for (size_t s = 0; s < at.size(); s += net_.max_batch()) {
    const int n = (int)std::min<size_t>(net_.max_batch(), at.size() - s);
    net_.set_batch(images + s * per, nullptr, n);
    net_.forward(false, 0);
    std::vector<float> a;
    std::vector<UnitAt> chunk(at.begin() + s, at.begin() + s + n);
    std::vector<float> p = project_batch(chunk, mode, acts ? &a : nullptr);
    out.insert(out.end(), p.begin(), p.end());
    if (acts) acts->insert(acts->end(), a.begin(), a.end());
  }
  return out;
}

}  // namespace cvg
