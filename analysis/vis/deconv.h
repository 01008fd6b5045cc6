// Projections of one unit's activation back to pixel space (Zeiler & Fergus's deconvnet, and two
// gradient-based relatives), built from the engine's backward kernels so they run on CPU and GPU.
//
// For sample i of a batch: run the net forward (evaluation mode; max pooling records its switches),
// keep only the chosen activation (unit, y, x) of the layer's post-ReLU output, its value as the seed,
// and go down layer by layer to the input, each layer by its kind's rule (Layer::project, written
// beside each kind in nn/layers.cpp):
//   conv      transposed convolution with the same filters (conv_backward_data; groups respected)
//   fc        the transposed weights (fc_backward_data)
//   maxpool   unpooling: each value goes to its window's recorded switch (maxpool_backward)
//   dropout   identity (evaluation mode passes values through)
//   relu      by mode (relu_down, nn/layers.h): gradient s * [y > 0], deconv max(s, 0), guided both
//   lrn       deconv: skipped (identity); gradient and guided: its exact backward (lrn_backward), so
//             gradient mode is the true gradient of the activation with respect to the input.
// The signal is linear in the seed, so a display normalised per projection does not depend on it.
#pragma once
#include <string>
#include <vector>

#include "nn/layers.h"

namespace cvg {
class Net;

// "deconv" | "guided" | "gradient"; throws InputError otherwise.
ProjectionMode parse_projection_mode(const std::string& s);
const char* projection_mode_name(ProjectionMode m);

struct UnitAt {
  int unit = 0, y = 0, x = 0;  // channel and position in the layer's output
};

class Projector {
 public:
  // `layer`: a conv or fc layer of `net` (throws InputError otherwise). The net must outlive this.
  Projector(Net& net, const std::string& layer);

  // Projects sample i of the net's current batch (net.forward must have run on it, in evaluation
  // mode) from at[i], for i < at.size() <= net.batch(). Returns [n, c, h, w] in input space on the
  // host; `acts`, when given, receives each seed (the chosen activation). The signal going down is
  // left in net.grad(l) for every layer l below the top (its first n samples), for inspection.
  std::vector<float> project_batch(const std::vector<UnitAt>& at, ProjectionMode mode, std::vector<float>* acts = nullptr);
  // Forward (evaluation) on n = at.size() host images (CHW each, contiguous) in chunks of the net's
  // batch, then project_batch on each chunk.
  std::vector<float> project(const float* images, const std::vector<UnitAt>& at, ProjectionMode mode,
                             std::vector<float>* acts = nullptr);

  int top_layer() const { return top_; }  // the layer whose output holds the units (conv/fc or its ReLU)

 private:
  Net& net_;
  int top_;
  Array<float> ws_;
  Tensor dinput_;
};

}  // namespace cvg
