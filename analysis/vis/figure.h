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
// Columns left to right, one per pair: net A's block above net B's, split by a grey rule. With a
// title or column labels (lines split by '\n'), a header band above holds them in black text.
Image pairs_figure(const std::vector<std::pair<UnitView, UnitView>>& pairs, int k, int scale, const std::string& title = "",
                   const std::vector<std::string>& column_labels = {});

// Black text (stb_easy_font, ~7 px tall per line at scale 1, 12 px line spacing) with its top-left
// corner at (x, y), clipped to the image; its width in pixels.
void draw_text(Image& img, int x, int y, const std::string& text, int scale = 1);
int text_width(const std::string& text, int scale = 1);

}  // namespace cvg
