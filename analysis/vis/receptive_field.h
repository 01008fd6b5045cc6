// Receptive fields of a net's units: which input pixels can influence an output position of a layer,
// from the layer chain's kernels, strides and paddings (each layer kind's WindowStep, nn/layers.h:
// conv and max pooling; ceil pooling changes how many outputs there are, never where their windows
// sit). ReLU, LRN (across channels) and dropout keep positions; an fc layer sees the whole input.
#pragma once
#include <string>
#include <vector>

#include "nn/config.h"

namespace cvg {
class Net;

// A window in input pixels: rows y0 .. y0+h-1, columns x0 .. x0+w-1. It may reach past the image
// (negative y0, or y0+h > image height) where padding or ceil pooling lets windows overhang.
struct Window {
  int y0 = 0, x0 = 0, h = 0, w = 0;
  bool contains(int y, int x) const { return y >= y0 && y < y0 + h && x >= x0 && x < x0 + w; }
};

// Output (oy, ox) of the layer sees input rows offset + jump*oy .. + size-1 (columns likewise).
// When some layer's stride exceeds its kernel the field has holes; the window is then the bounding
// box (exact = false). CaffeNet-style nets are exact.
struct ReceptiveField {
  int size = 1, jump = 1, offset = 0;
  bool whole_input = false;  // an fc layer (or one above it): every output sees the whole input
  int in_h = 0, in_w = 0;    // the input's size
  bool exact = true;
  Window window(int oy, int ox) const;
};

// The receptive field of `layer` (by name) of a net config for a per-sample input [c, h, w].
// Throws InputError when the config has no such layer.
ReceptiveField receptive_field(const NetConfig& cfg, const std::vector<int>& input, const std::string& layer);
ReceptiveField receptive_field(const Net& net, const std::string& layer);

// The part of a CHW image under `win`, as a [c, win.h, win.w] image; positions past the image border
// get fill[ch] (fill == nullptr: zero), as the paper's zero-filled crops.
std::vector<float> crop(const float* image, int c, int h, int w, const Window& win, const float* fill = nullptr);

}  // namespace cvg
