#include "analysis/vis/deconv.h"

#include <algorithm>
#include <stdexcept>

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
    case ProjectionMode::Deconv:
      return "deconv";
    case ProjectionMode::Guided:
      return "guided";
    case ProjectionMode::Gradient:
      return "gradient";
  }
  return "?";
}

Projector::Projector(Net& net, const std::string& layer) : net_(net), top_(net.units_index(layer)) {
  size_t ws = 0;
  for (int l = 0; l <= top_; ++l) ws = std::max(ws, net.layers()[l]->workspace_floats(net.device()));
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
  const size_t per_top = Tensor::numel_of(ts);

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
    const Tensor& x = l ? net_.output(l - 1) : net_.input;
    Tensor& dx = l ? net_.grad(l - 1) : dinput_;
    layers[l]->project(mode, x, net_.output(l), net_.grad(l), dx, ctx);
  }
  std::vector<float> out(n * Tensor::numel_of(net_.input_shape()));
  device_copy(out.data(), Device::cpu(), dinput_.ptr(), dev, out.size() * sizeof(float));
  return out;
}

std::vector<float> Projector::project(const float* images, const std::vector<UnitAt>& at, ProjectionMode mode,
                                      std::vector<float>* acts) {
  const size_t per = Tensor::numel_of(net_.input_shape());
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
