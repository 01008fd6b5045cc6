#include "analysis/plot/raster.h"

#include <algorithm>

namespace cvg::plot {

void blend_pixel(Image& img, int x, int y, Color c, int a) {
  if (x < 0 || y < 0 || x >= img.w || y >= img.h || a <= 0) return;
  uint8_t* p = img.at(x, y);
  const uint8_t src[3] = {c.r, c.g, c.b};
  a = std::min(a, 255);
  for (int i = 0; i < 3; ++i) p[i] = (uint8_t)((src[i] * a + p[i] * (255 - a) + 127) / 255);
}

Color pixel(const Image& img, int x, int y) {
  const uint8_t* p = &img.rgb[((size_t)y * img.w + x) * 3];
  return {p[0], p[1], p[2]};
}

void fill_rect(Image& img, const Box& b, Color c) {
  for (int y = std::max(b.y0, 0); y < std::min(b.y1, img.h); ++y)
    for (int x = std::max(b.x0, 0); x < std::min(b.x1, img.w); ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
}

void hline(Image& img, int x0, int x1, int y, Color c, int thickness) { fill_rect(img, {x0, y, x1, y + thickness}, c); }
void vline(Image& img, int x, int y0, int y1, Color c, int thickness) { fill_rect(img, {x, y0, x + thickness, y1}, c); }

void outline_rect(Image& img, const Box& b, Color c, int t) {
  hline(img, b.x0, b.x1, b.y0, c, t);
  hline(img, b.x0, b.x1, b.y1 - t, c, t);
  vline(img, b.x0, b.y0, b.y1, c, t);
  vline(img, b.x1 - t, b.y0, b.y1, c, t);
}

std::string base64(const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? (uint8_t)bytes[i + k] : 0);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

std::string data_uri(const Image& img) { return "data:image/png;base64," + base64(encode_png(img)); }
std::string data_uri_svg(const std::string& svg) { return "data:image/svg+xml;base64," + base64(svg); }

}  // namespace cvg::plot
