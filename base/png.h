// PNG output (stb_image_write) and the helpers figures share: an RGB image buffer, nearest-neighbour
// upscaling, and a diverging colour map for correlation heatmaps. Writes are atomic.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cvg {

struct Image {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;  // h * w * 3, row-major
  Image() = default;
  Image(int w_, int h_, uint8_t fill = 255) : w(w_), h(h_), rgb((size_t)w_ * h_ * 3, fill) {}
  uint8_t* at(int x, int y) { return &rgb[((size_t)y * w + x) * 3]; }
  // Copies `src` with its top-left corner at (x, y), clipped to this image.
  void paste(const Image& src, int x, int y);
  Image upscaled(int factor) const;
};

void write_png(const std::string& path, const Image& img);

// Blue (vmin) - white (0 for a symmetric range) - red (vmax) colour for a value; NaN is grey.
void diverging_color(double v, double vmin, double vmax, uint8_t out[3]);
// A rows x cols matrix (row-major) as a heatmap, `cell` pixels per entry.
Image heatmap(const double* m, int rows, int cols, double vmin, double vmax, int cell = 1);

}  // namespace cvg
