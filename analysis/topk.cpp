#include "analysis/topk.h"

#include <algorithm>
#include <stdexcept>

#include "data/dataset.h"
#include "kernels/stats.h"
#include "nn/dispatch.h"
#include "nn/io.h"
#include "nn/net.h"

namespace cvg {

TopK::TopK(const Device& dev, int units, int h, int w, int k, int max_batch)
    : dev_(dev), c_(units), h_(h), w_(w), k_(k), max_batch_(max_batch) {
  if (k < 1 || k > kStatsMaxTopK)
    throw std::invalid_argument("top-k: k must be 1.." + std::to_string(kStatsMaxTopK) + ", got " + std::to_string(k));
  if (units < 1 || h < 1 || w < 1 || max_batch < 1) throw std::invalid_argument("top-k: empty layer or batch");
  set_current(dev);
  max_val_ = Array<float>(dev, (size_t)max_batch * units);
  argmax_ = Array<int>(dev, (size_t)max_batch * units);
  val_ = Array<float>(dev, (size_t)units * k);
  image_ = Array<int>(dev, (size_t)units * k);
  pos_ = Array<int>(dev, (size_t)units * k);
  CVG_DISPATCH(dev_, topk_reset, c_, k_, val_.data(), image_.data(), pos_.data());
}

void TopK::add(const float* acts, int n, int first_image) {
  if (n < 1 || n > max_batch_) throw std::invalid_argument("top-k: batch of " + std::to_string(n) + " > " + std::to_string(max_batch_));
  CVG_DISPATCH(dev_, unit_max_per_image, n, c_, h_ * w_, acts, max_val_.data(), argmax_.data());
  CVG_DISPATCH(dev_, topk_merge, n, c_, k_, max_val_.data(), argmax_.data(), first_image, val_.data(), image_.data(),
               pos_.data());
}

std::vector<std::vector<TopEntry>> TopK::table() const {
  std::vector<float> val = val_.to_host();
  std::vector<int> img = image_.to_host(), pos = pos_.to_host();
  std::vector<std::vector<TopEntry>> out(c_, std::vector<TopEntry>(k_));
  for (int u = 0; u < c_; ++u)
    for (int r = 0; r < k_; ++r) {
      size_t i = (size_t)u * k_ + r;
      TopEntry& e = out[u][r];
      if (img[i] < 0) continue;  // empty slot
      e.value = val[i], e.image = img[i];
      if (pos[i] >= 0) e.y = pos[i] / w_, e.x = pos[i] % w_;
    }
  return out;
}

std::vector<std::vector<TopTable>> topk_pass(const std::vector<Net*>& nets, const std::vector<std::string>& layers,
                                             const Dataset& data, int k, size_t limit,
                                             const std::function<void(long long, long long)>& progress, int threads) {
  if (nets.empty() || layers.empty()) throw std::invalid_argument("topk_pass: no nets or no layers");
  const int batch = nets[0]->max_batch();
  std::vector<std::vector<TopK>> trackers(nets.size());  // [net][layer]
  for (size_t i = 0; i < nets.size(); ++i) {
    if (nets[i]->max_batch() != batch) throw std::invalid_argument("topk_pass: the nets must share one batch size");
    for (const std::string& layer : layers) {
      const Tensor& t = nets[i]->units(layer);
      trackers[i].emplace_back(nets[i]->device(), t.dim(1), t.dim(2), t.dim(3), k, batch);
    }
  }
  const size_t total = limit > 0 ? std::min(limit, data.size()) : data.size();
  if (total > (size_t)INT32_MAX) throw std::invalid_argument("topk_pass: image ids must fit in int32");
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
      for (size_t l = 0; l < layers.size(); ++l) trackers[i][l].add(nets[i]->units(layers[l]).ptr(), n, first);
    }
    if (progress) progress(b + 1, batches);
  }
  std::vector<std::vector<TopTable>> out(nets.size());
  for (size_t i = 0; i < nets.size(); ++i)
    for (TopK& t : trackers[i]) out[i].push_back(t.table());
  return out;
}

std::vector<TopTable> topk_pass(const std::vector<Net*>& nets, const std::string& layer, const Dataset& data, int k,
                                size_t limit, const std::function<void(long long, long long)>& progress, int threads) {
  std::vector<std::vector<TopTable>> r = topk_pass(nets, std::vector<std::string>{layer}, data, k, limit, progress, threads);
  std::vector<TopTable> out;
  for (auto& per_net : r) out.push_back(std::move(per_net[0]));
  return out;
}

}  // namespace cvg
