#include "base/png.h"

#include <algorithm>
#include <cmath>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include "base/io.h"

namespace cvg {

void Image::paste(const Image& src, int x0, int y0) {
  for (int y = 0; y < src.h; ++y)
    for (int x = 0; x < src.w; ++x) {
      int tx = x0 + x, ty = y0 + y;
      if (tx < 0 || ty < 0 || tx >= w || ty >= h) continue;
      const uint8_t* s = &src.rgb[((size_t)y * src.w + x) * 3];
      std::copy(s, s + 3, at(tx, ty));
    }
}

Image Image::upscaled(int f) const {
  Image out(w * f, h * f);
  for (int y = 0; y < out.h; ++y)
    for (int x = 0; x < out.w; ++x) {
      const uint8_t* s = &rgb[((size_t)(y / f) * w + x / f) * 3];
      std::copy(s, s + 3, out.at(x, y));
    }
  return out;
}

static void append(void* ctx, void* data, int size) {
  auto* buf = static_cast<std::string*>(ctx);
  buf->append(static_cast<const char*>(data), (size_t)size);
}

void write_png(const std::string& path, const Image& img) {
  std::string buf;
  if (!stbi_write_png_to_func(append, &buf, img.w, img.h, 3, img.rgb.data(), img.w * 3))
    throw InputError(path + ": PNG encoding failed");
  write_file_atomic(path, buf);
}

void diverging_color(double v, double vmin, double vmax, uint8_t out[3]) {
  if (std::isnan(v)) {
    out[0] = out[1] = out[2] = 128;
    return;
  }
  double mid = (vmin + vmax) / 2, half = (vmax - vmin) / 2;
  double t = half > 0 ? std::clamp((v - mid) / half, -1.0, 1.0) : 0.0;
  // white at the middle, towards (178, 24, 43) red above and (33, 102, 172) blue below
  const double red[3] = {178, 24, 43}, blue[3] = {33, 102, 172};
  const double* end = t >= 0 ? red : blue;
  double a = std::fabs(t);
  for (int i = 0; i < 3; ++i) out[i] = (uint8_t)std::lround(255 * (1 - a) + end[i] * a);
}

Image heatmap(const double* m, int rows, int cols, double vmin, double vmax, int cell) {
  Image img(cols * cell, rows * cell);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      uint8_t col[3];
      diverging_color(m[(size_t)r * cols + c], vmin, vmax, col);
      for (int y = 0; y < cell; ++y)
        for (int x = 0; x < cell; ++x) std::copy(col, col + 3, img.at(c * cell + x, r * cell + y));
    }
  return img;
}

}  // namespace cvg
