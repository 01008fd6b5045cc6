// Matrices as labelled heatmaps (the correlation matrices, the spectral groups' joint matrix): colour
// scale, title, axis labels with unit-index ticks, a colour bar with ticks, optional group borders, and
// a matrix of any size fitted into a sensible pixel size.
#pragma once
#include <string>
#include <vector>

#include "analysis/plot/raster.h"

namespace cvg::plot {

enum class ColorScale {
  Diverging,   // vmin blue, the middle white, vmax red (correlations in [-1, 1])
  Sequential,  // vmin white to vmax dark blue
};
// The colour of v on the scale; NaN is mid grey; values outside [vmin, vmax] take the end colours.
Color scale_color(double v, double vmin, double vmax, ColorScale scale = ColorScale::Diverging);

struct HeatmapSpec {
  std::string title, x_label, y_label, colorbar_label;
  double vmin = -1, vmax = 1;
  ColorScale scale = ColorScale::Diverging;
  std::vector<int> row_borders, col_borders;  // lines before these row/column indices (group borders)
  int max_px = 640;                           // the matrix area's longer side at most this (block-averaged above)
  int min_px = 320;                           // ... and at least about this (whole cells enlarged), when the matrix is smaller
};

struct Heatmap {
  Image image;
  Box matrix;        // where the matrix lies in `image`
  int cell = 1;      // pixels per matrix entry (each side) when enlarged
  int block = 1;     // matrix entries per pixel (each side) when reduced by block averaging
  std::string note;  // for the caption: "each pixel is the mean of a 16 x 16 block of entries", or ""
};

// A rows x cols row-major matrix as a heatmap. Throws std::invalid_argument for rows or cols < 1.
Heatmap render_heatmap(const double* m, int rows, int cols, const HeatmapSpec& spec);

}  // namespace cvg::plot
