// Drawing on the RGB Image of base/png.h: filled and outlined rectangles, axis-aligned lines, and the
// image as a PNG data URI for an HTML page.
#pragma once
#include <cstdint>
#include <string>

#include "base/png.h"

namespace cvg::plot {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
};
constexpr Color kBlack{0, 0, 0}, kWhite{255, 255, 255}, kGrey{128, 128, 128};

// Pixel rectangle [x0, x1) x [y0, y1).
struct Box {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};

// Each draws clipped to the image.
void fill_rect(Image& img, const Box& b, Color c);
void outline_rect(Image& img, const Box& b, Color c, int thickness = 1);
void hline(Image& img, int x0, int x1, int y, Color c, int thickness = 1);  // [x0, x1), rows y .. y+thickness-1
void vline(Image& img, int x, int y0, int y1, Color c, int thickness = 1);  // [y0, y1), columns x .. x+thickness-1
// `a` (0..255) of colour c over the pixel's colour.
void blend_pixel(Image& img, int x, int y, Color c, int a);
Color pixel(const Image& img, int x, int y);

// "data:image/png;base64,..." and "data:image/svg+xml;base64,...", for <img src=...>.
std::string data_uri(const Image& img);
std::string data_uri_svg(const std::string& svg);
// RFC 4648 base64 (with '=' padding).
std::string base64(const std::string& bytes);

}  // namespace cvg::plot
