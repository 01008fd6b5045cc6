#include "analysis/match/stitch.h"

#include <algorithm>
#include <cstdio>

#include "nn/trainer.h"
#include "base/io.h"

namespace cvg {

namespace {
// What a layer computes (not how it was initialised or trained): its name, kind and settings.
std::string layer_signature(const LayerConfig& c) {
  char b[256];
  std::snprintf(b, sizeof b, "%s %s: outputs %d, kernel %d, stride %d, pad %d, group %d, LRN %d %g %g %g, dropout %g",
                c.name.c_str(), c.type.c_str(), c.num_output, c.kernel_size, c.stride, c.pad, c.group, c.local_size, c.alpha,
                c.beta, c.k, c.ratio);
  return b;
}
}  // namespace

void check_same_architecture(Net& a, Net& b, const std::string& name_a, const std::string& name_b) {
  auto pa = a.params(), pb = b.params();
  if (pa.size() != pb.size())
    throw InputError(name_b + ": " + std::to_string(pb.size()) + " parameters, " + name_a + " has " + std::to_string(pa.size()) +
                     " (different architectures)");
  for (size_t i = 0; i < pa.size(); ++i)
    if (pa[i]->name != pb[i]->name || pa[i]->shape != pb[i]->shape)
      throw InputError(name_b + ": parameter " + pb[i]->name + " " + pb[i]->value.shape_str() + " does not match " + name_a +
                       "'s " + pa[i]->name + " " + pa[i]->value.shape_str());
  // The same layers too, in order with the same settings: the mixed net runs A's layers with B's
  // weights, and stitching takes layer i of one net or the other.
  const auto &la = a.layers(), &lb = b.layers();
  for (size_t i = 0; i < std::max(la.size(), lb.size()); ++i) {
    const std::string sa = i < la.size() ? layer_signature(la[i]->cfg) : "none",
                      sb = i < lb.size() ? layer_signature(lb[i]->cfg) : "none";
    if (sa != sb)
      throw InputError(name_b + ": layer " + std::to_string(i + 1) + " is " + sb + ", where " + name_a + " has " + sa +
                       " (different architectures: the nets must have the same layers and settings)");
  }
}

void interpolate_params(Net& a, Net& b, float t, Net& out) {
  auto pa = a.params(), pb = b.params(), po = out.params();
  for (size_t i = 0; i < po.size(); ++i) {
    std::vector<float> va = pa[i]->value.data.to_host(), vb = pb[i]->value.data.to_host();
    for (size_t k = 0; k < va.size(); ++k) va[k] = (1 - t) * va[k] + t * vb[k];
    po[i]->value.data.from_host(va);
    po[i]->momentum.data.zero();
  }
}

void stitch_params(Net& a, Net& b, const std::string& layer, Net& out) {
  const int cut = a.layer_index(layer);
  const auto& la = a.layers();
  const auto& lb = b.layers();
  const auto& lo = out.layers();
  for (size_t i = 0; i < lo.size(); ++i) {
    const Layer& from = (int)i <= cut ? *la[i] : *lb[i];
    for (size_t k = 0; k < lo[i]->params.size(); ++k) {
      lo[i]->params[k].value.data.copy_from(from.params[k].value.data);
      lo[i]->params[k].momentum.data.copy_from(from.params[k].momentum.data);
    }
  }
}

Barrier barrier_height(const std::vector<CurvePoint>& curve) {
  Barrier b;
  if (curve.size() < 2) return b;
  const CurvePoint &first = curve.front(), &last = curve.back();
  for (const CurvePoint& p : curve) {
    const double s = (p.t - first.t) / (last.t - first.t);
    const double above = p.loss - ((1 - s) * first.loss + s * last.loss);
    if (above > b.height) b = {above, p.t};
  }
  return b;
}

static CurvePoint measure(Net& net, const Dataset& data, int batch, int threads, double t) {
  Net::Metrics m = evaluate(net, data, batch, threads);
  return {t, m.n ? m.loss_sum / m.n : 0.0, m.n ? (double)m.top1 / m.n : 0.0};
}

std::vector<CurvePoint> interpolation_curve(Net& a, Net& b, Net& work, const Dataset& data, int steps, int batch, int threads) {
  std::vector<CurvePoint> curve;
  for (int k = 0; k <= steps; ++k) {
    const double t = (double)k / steps;
    interpolate_params(a, b, (float)t, work);
    curve.push_back(measure(work, data, batch, threads, t));
  }
  return curve;
}

std::vector<StitchPoint> stitch_curve(Net& a, Net& b, Net& work, const Dataset& data, int batch, int threads) {
  std::vector<std::string> cuts;
  for (const auto& l : a.layers())
    if (l->cfg.has_params()) cuts.push_back(l->cfg.name);
  if (!cuts.empty()) cuts.pop_back();
  std::vector<StitchPoint> out;
  for (const std::string& layer : cuts) {
    stitch_params(a, b, layer, work);
    CurvePoint m = measure(work, data, batch, threads, 0);
    out.push_back({layer, m.loss, m.top1});
  }
  return out;
}

std::unique_ptr<Net> fit_stitch(Net& a, Net& b, const std::string& layer, const Dataset& train, const FitOptions& opt) {
  const int cut = a.layer_index(layer);
  const auto& la = a.layers();
  int next = cut + 1;
  while (next < (int)la.size() && !la[next]->cfg.has_params()) ++next;
  if (!la[cut]->cfg.has_params() || next == (int)la.size())
    throw InputError("layer " + layer + ": not a conv or fc layer followed by another one (nothing to stitch)");
  const int units = la[next]->in_shape[0];

  NetConfig cfg = a.config();
  for (LayerConfig& l : cfg.layers) l.lr_mult[0] = l.lr_mult[1] = l.decay_mult[0] = l.decay_mult[1] = 0;  // frozen
  LayerConfig s;
  s.name = "stitch";
  s.type = "conv";
  s.num_output = units;
  s.kernel_size = 1;
  s.decay_mult[0] = s.decay_mult[1] = 0;
  cfg.layers.insert(cfg.layers.begin() + next, s);
  auto net = std::make_unique<Net>(cfg, a.input_shape(), a.num_classes(), a.device(), opt.batch);
  net->init(a.seed());
  const auto& ln = net->layers();
  for (size_t i = 0; i < ln.size(); ++i) {
    if (ln[i]->cfg.name == "stitch") continue;
    const int src = (int)i < next ? (int)i : (int)i - 1;
    const Layer& from = src <= cut ? *la[src] : *b.layers()[src];
    for (size_t k = 0; k < ln[i]->params.size(); ++k) ln[i]->params[k].value.data.copy_from(from.params[k].value.data);
  }
  for (Param* p : net->params()) p->momentum.data.zero();
  Layer& st = *ln[next];
  std::vector<float> eye((size_t)units * units, 0.0f);
  for (int c = 0; c < units; ++c) eye[(size_t)c * units + c] = 1.0f;
  st.params[0].value.data.from_host(eye);
  st.params[1].value.data.zero();

  Loader loader(train, opt.batch, /*shuffle=*/true, /*train_augment=*/true, /*drop_last=*/true, opt.order_seed, opt.threads);
  ImageShape sh = train.shape();
  std::vector<float> x((size_t)opt.batch * sh.size());
  std::vector<int32_t> y(opt.batch);
  for (int it = 0; it < opt.iterations; ++it) {
    int n = loader.next(x.data(), y.data());
    net->set_batch(x.data(), y.data(), n);
    net->forward(/*train=*/true, it);
    net->backward(it);
    net->sgd_step(opt.lr, opt.momentum, 0);
  }
  return net;
}

namespace {
class FirstSamples : public Dataset {
 public:
  FirstSamples(std::unique_ptr<Dataset> d, size_t n) : d_(std::move(d)), n_(n) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return d_->num_classes(); }
  ImageShape shape() const override { return d_->shape(); }
  Normalisation normalisation() const override { return d_->normalisation(); }
  std::string describe() const override { return d_->describe() + ", first " + std::to_string(n_); }
  int32_t load(size_t i, float* out, bool train, uint64_t aug_seed) const override { return d_->load(i, out, train, aug_seed); }

 private:
  std::unique_ptr<Dataset> d_;
  size_t n_;
};
}  // namespace

std::unique_ptr<Dataset> first_samples(std::unique_ptr<Dataset> data, long long n) {
  if (n < 0 || (size_t)n >= data->size()) return data;
  return std::make_unique<FirstSamples>(std::move(data), (size_t)n);
}

}  // namespace cvg
