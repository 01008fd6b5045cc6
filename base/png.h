// PNG output (stb_image_write) and the RGB image buffer every figure draws on, with nearest-neighbour
// upscaling. Writes are atomic. Drawing, text and heatmaps: analysis/plot/.
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

// The PNG file's bytes; write_png writes them atomically.
std::string encode_png(const Image& img);
void write_png(const std::string& path, const Image& img);

}  // namespace cvg
