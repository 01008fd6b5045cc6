// Figures of units: input patches and their projections as images, laid out as in the paper's
// figures: a unit's top patches in a 3x3 grid (for k = 9) above the grid of their projections; for a
// matched pair, net A's unit above net B's; pairs side by side, left to right.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "base/png.h"
#include "data/dataset.h"

namespace cvg {

// The pixels of a CHW input as the dataset delivered it, through its Normalisation (clamped to
// 0..255). c = 3: RGB; any other c: grey from the channels' mean.
Image render_input(const float* chw, int c, int h, int w, const Normalisation& norm);
// A projection for display: every channel of the image on one scale, 128 + 127 * v / max|v|, so
// zero is mid grey; an all-zero projection is uniformly grey.
Image render_projection(const float* chw, int c, int h, int w);
// The input value of each channel that renders as pixel 0 (black): the fill for zero-filled crops.
std::vector<float> black_fill(const Normalisation& norm, int c);

// Nearest-neighbour factor that makes a patch of `size` pixels at least `min_px` wide.
int display_scale(int size, int min_px = 48);

struct UnitView {
  std::vector<Image> patches, projections;  // same size each; fewer than k leaves cells blank
};
// Patches in a grid of ceil(sqrt(k)) columns, the projections' grid beneath, each image upscaled.
Image unit_block(const UnitView& v, int k, int scale);
// What a pair figure says about itself (every part optional). Drawn in DejaVu Sans (analysis/plot).
struct PairFigureLabels {
  std::string title;         // a band above everything (lines split by '\n')
  std::string row_a, row_b;  // along the left edge, beside net A's row and net B's (e.g. the nets' names)
  struct Pair {
    std::string header;          // above the column: rank and correlation (lines split by '\n')
    std::string unit_a, unit_b;  // a strip above each unit's block ("A: unit 5")
  };
  std::vector<Pair> pairs;  // one per column, in order
};
// Columns left to right, one per pair: net A's block above net B's, split by a grey rule; the labels
// add a title band, a strip of row names on the left, a header above each column and a caption strip
// above each block. Without labels the figure is the bare grid.
Image pairs_figure(const std::vector<std::pair<UnitView, UnitView>>& pairs, int k, int scale,
                   const PairFigureLabels& labels = {});
// `img` under a caption strip (lines split by '\n'), widened when the caption is wider.
Image with_caption(const Image& img, const std::string& caption);

}  // namespace cvg
