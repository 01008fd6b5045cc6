// The top-k images per unit: for every unit (channel) of a layer, the k images whose maximum
// activation over positions is highest, with that position. Each image counts once per unit, at its
// strongest position (the paper's rule). Tracked on the activations' device with kernels/stats.h:
// per batch, unit_max_per_image then topk_merge; only the final [units, k] tables come to the host.
// Order: higher value first, ties to the lower image id (topk_better).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace cvg {
class Net;
class Dataset;

struct TopEntry {
  float value = 0;
  int image = -1;  // global dataset index; -1: empty slot (fewer than k images seen)
  int y = -1, x = -1;  // the position in the layer's output
};

class TopK {
 public:
  // For activations NCHW [n <= max_batch, units, h, w] on `dev`; 1 <= k <= kStatsMaxTopK.
  TopK(const Device& dev, int units, int h, int w, int k, int max_batch);
  // Merges a batch whose sample i is image first_image + i. `acts` lives on the tracker's device.
  void add(const float* acts, int n, int first_image);
  // [unit][rank], best first (copies the tables to the host).
  std::vector<std::vector<TopEntry>> table() const;
  int units() const { return c_; }
  int k() const { return k_; }

 private:
  Device dev_;
  int c_, h_, w_, k_, max_batch_;
  Array<float> max_val_, val_;
  Array<int> argmax_, image_, pos_;
};

using TopTable = std::vector<std::vector<TopEntry>>;

// One ordered pass over `data` (evaluation mode, batches of the nets' max_batch), every net seeing
// the same batch; returns per net, per layer of `layers`, the top-k table of the layer's units
// (post-ReLU). Image ids are the dataset's indices. limit > 0: only the first `limit` images.
// progress(done, total) after each batch.
std::vector<std::vector<TopTable>> topk_pass(const std::vector<Net*>& nets, const std::vector<std::string>& layers,
                                             const Dataset& data, int k, size_t limit = 0,
                                             const std::function<void(long long, long long)>& progress = {},
                                             int threads = 2);
// The same for one layer: per net its table.
std::vector<TopTable> topk_pass(const std::vector<Net*>& nets, const std::string& layer, const Dataset& data, int k,
                                size_t limit = 0, const std::function<void(long long, long long)>& progress = {},
                                int threads = 2);

}  // namespace cvg
