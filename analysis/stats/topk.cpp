#include "analysis/stats/topk.h"

#include <algorithm>
#include <stdexcept>

#include "analysis/stats/histograms.h"
#include "data/dataset.h"
#include "base/io.h"
#include "nn/net.h"

namespace cvg {

std::vector<std::vector<TopTable>> topk_pass(const std::vector<Net*>& nets, const std::vector<std::string>& layers,
                                             const Dataset& data, int k, size_t limit,
                                             const std::function<void(long long, long long)>& progress, int threads) {
  if (nets.empty() || layers.empty()) throw std::logic_error("topk_pass: no nets or no layers");
  const int batch = nets[0]->max_batch();
  std::vector<std::vector<TopKAccumulator>> trackers(nets.size());  // [net][layer]
  std::vector<std::vector<int>> widths(nets.size()), hws(nets.size());
  for (size_t i = 0; i < nets.size(); ++i) {
    if (nets[i]->max_batch() != batch) throw std::logic_error("topk_pass: the nets must share one batch size");
    for (const std::string& layer : layers) {
      const Tensor& t = nets[i]->units(layer);
      trackers[i].emplace_back(nets[i]->device(), t.dim(1), k);
      widths[i].push_back(t.dim(3)), hws[i].push_back(t.dim(2) * t.dim(3));
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
      for (size_t l = 0; l < layers.size(); ++l)
        trackers[i][l].add_batch(nets[i]->units(layers[l]).ptr(), first, n, hws[i][l]);
    }
    if (progress) progress(b + 1, batches);
  }
  std::vector<std::vector<TopTable>> out(nets.size());
  for (size_t i = 0; i < nets.size(); ++i)
    for (size_t l = 0; l < layers.size(); ++l) {
      TopTable table;
      for (const auto& unit : trackers[i][l].result()) {
        std::vector<TopEntry> entries;
        for (const TopKAccumulator::Entry& e : unit) {
          TopEntry t;
          t.value = e.value, t.image = e.image;
          if (e.position >= 0) t.y = e.position / widths[i][l], t.x = e.position % widths[i][l];
          entries.push_back(t);
        }
        table.push_back(std::move(entries));
      }
      out[i].push_back(std::move(table));
    }
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
