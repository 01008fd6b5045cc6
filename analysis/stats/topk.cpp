#include "analysis/stats/topk.h"

#include <algorithm>
#include <stdexcept>

#include "data/dataset.h"
#include "base/io.h"
#include "kernels/stats.h"
#include "nn/dispatch.h"
#include "nn/net.h"

namespace cvg {

// ---- TopKAccumulator --------------------------------------------------------------------------

TopKAccumulator::TopKAccumulator(const Device& dev, int units, int k, int width)
    : dev_(dev),
      units_(units),
      k_(k),
      width_(width),
      val_(dev, (size_t)units * k),
      image_(dev, (size_t)units * k),
      pos_(dev, (size_t)units * k) {
  if (k < 1 || k > kStatsMaxTopK) throw std::logic_error("TopKAccumulator: k must be in 1.." + std::to_string(kStatsMaxTopK));
  if (width < 1) throw std::logic_error("TopKAccumulator: width must be positive");
  set_current(dev_);
  CVG_DISPATCH(dev_, topk_reset, units_, k_, val_.data(), image_.data(), pos_.data());
}

void TopKAccumulator::add_batch(const float* act, int image_id0, int n, int hw) {
  if (n <= 0 || hw <= 0) return;
  set_current(dev_);
  const size_t need = (size_t)n * units_;
  if (batch_max_.size() < need) batch_max_ = Array<float>(dev_, need), batch_arg_ = Array<int>(dev_, need);
  CVG_DISPATCH(dev_, unit_max_per_image, n, units_, hw, act, batch_max_.data(), batch_arg_.data());
  CVG_DISPATCH(dev_, topk_merge, n, units_, k_, batch_max_.data(), batch_arg_.data(), image_id0, val_.data(), image_.data(),
               pos_.data());
}

TopTable TopKAccumulator::result() const {
  const auto v = val_.to_host();
  const auto im = image_.to_host(), ps = pos_.to_host();
  TopTable r(units_);
  for (int u = 0; u < units_; ++u)
    for (int t = 0; t < k_; ++t) {
      const size_t e = (size_t)u * k_ + t;
      if (im[e] < 0) continue;
      TopEntry te;
      te.value = v[e], te.image = im[e];
      if (ps[e] >= 0) te.y = ps[e] / width_, te.x = ps[e] % width_;
      r[u].push_back(te);
    }
  return r;
}

// ---- topk_pass ----------------------------------------------------------------------------------

std::vector<std::vector<TopTable>> topk_pass(const std::vector<Net*>& nets, const std::vector<std::string>& layers,
                                             const Dataset& data, int k, size_t limit,
                                             const std::function<void(long long, long long)>& progress, int threads) {
  if (nets.empty() || layers.empty()) throw std::logic_error("topk_pass: no nets or no layers");
  const int batch = nets[0]->max_batch();
  std::vector<std::vector<TopKAccumulator>> trackers(nets.size());  // [net][layer]
  std::vector<std::vector<int>> hws(nets.size());
  for (size_t i = 0; i < nets.size(); ++i) {
    if (nets[i]->max_batch() != batch) throw std::logic_error("topk_pass: the nets must share one batch size");
    for (const std::string& layer : layers) {
      const Tensor& t = nets[i]->units(layer);
      trackers[i].emplace_back(nets[i]->device(), t.dim(1), k, t.dim(3));
      hws[i].push_back(t.dim(2) * t.dim(3));
    }
  }
  const size_t total = limit > 0 ? std::min(limit, data.size()) : data.size();
  if (total > (size_t)INT32_MAX) throw std::logic_error("topk_pass: image ids must fit in int32");
  Loader loader(data, batch, /*shuffle*/ false, /*augment*/ false, /*drop_last*/ false, 0, threads);
  const ImageShape s = data.shape();
  std::vector<float> x((size_t)batch * s.size());
  std::vector<int32_t> labels(batch);
  const long long batches = (long long)((total + batch - 1) / batch);
  for (long long b = 0; b < batches; ++b) {
    const int first = (int)(b * batch);  // an unshuffled pass: batch b holds images b*batch, b*batch+1, ...
    int n = loader.next(x.data(), labels.data());
    n = (int)std::min<size_t>(n, total - first);
    for (size_t i = 0; i < nets.size(); ++i) {
      nets[i]->set_batch(x.data(), labels.data(), n);
      nets[i]->forward(false, 0);
      for (size_t l = 0; l < layers.size(); ++l) trackers[i][l].add_batch(nets[i]->units(layers[l]).ptr(), first, n, hws[i][l]);
    }
    if (progress) progress(b + 1, batches);
  }
  std::vector<std::vector<TopTable>> out(nets.size());
  for (size_t i = 0; i < nets.size(); ++i)
    for (size_t l = 0; l < layers.size(); ++l) out[i].push_back(trackers[i][l].result());
  return out;
}

std::vector<TopTable> topk_pass(const std::vector<Net*>& nets, const std::string& layer, const Dataset& data, int k, size_t limit,
                                const std::function<void(long long, long long)>& progress, int threads) {
  std::vector<std::vector<TopTable>> r = topk_pass(nets, std::vector<std::string>{layer}, data, k, limit, progress, threads);
  std::vector<TopTable> out;
  for (auto& per_net : r) out.push_back(std::move(per_net[0]));
  return out;
}

}  // namespace cvg
