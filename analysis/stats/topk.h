// The top-k images per unit: for every unit (channel) of a layer, the k images whose maximum
// activation over positions is highest, with that position. Each image counts once per unit, at its
// strongest position (the paper's rule). Tracked on the nets' device by TopKAccumulator
// (kernels/stats.h: unit_max_per_image, topk_merge); only the final [units, k] tables come to the
// host. Order: higher value first, ties to the lower image id (topk_better).
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
  int image = -1;      // global dataset index
  int y = -1, x = -1;  // the position in the layer's output (-1 if every value was NaN)
};

// Per unit, its entries best first (fewer than k when fewer images were seen).
using TopTable = std::vector<std::vector<TopEntry>>;

// The top-k table of one layer's units, fed batch by batch with its activations on the device.
class TopKAccumulator {
 public:
  // `width`: the layer's map width, to give positions as (y, x) (fc layers: 1).
  TopKAccumulator(const Device& dev, int units, int k = 9, int width = 1);
  // act [n, units, hw] on the device; images image_id0 .. image_id0 + n - 1.
  void add_batch(const float* act, int image_id0, int n, int hw);
  TopTable result() const;

 private:
  Device dev_;
  int units_, k_, width_;
  Array<float> val_, batch_max_;
  Array<int> image_, pos_, batch_arg_;
};

// One ordered pass over `data` (evaluation mode, batches of the nets' max_batch), every net seeing
// the same batch; returns per net, per layer of `layers`, the top-k table of the layer's units
// (post-ReLU). Image ids are the dataset's indices. limit > 0: only the first `limit` images.
// progress(done, total) after each batch.
std::vector<std::vector<TopTable>> topk_pass(const std::vector<Net*>& nets, const std::vector<std::string>& layers,
                                             const Dataset& data, int k, size_t limit = 0,
                                             const std::function<void(long long, long long)>& progress = {}, int threads = 2);
// The same for one layer: per net its table.
std::vector<TopTable> topk_pass(const std::vector<Net*>& nets, const std::string& layer, const Dataset& data, int k,
                                size_t limit = 0, const std::function<void(long long, long long)>& progress = {},
                                int threads = 2);

}  // namespace cvg
