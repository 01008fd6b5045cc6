// Text in raster figures: DejaVu Sans (Debian's fonts-dejavu-core) through stb_truetype, anti-aliased,
// measured so that layout code can place labels exactly. The font is read once, on first use.
#pragma once
#include <string>

#include "analysis/plot/raster.h"

namespace cvg::plot {

// The font file the text functions use.
constexpr const char* kDefaultFontPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

enum class Anchor { Left, Centre, Right };

struct TextStyle {
  double size = 13;  // pixel height of the font (ascent - descent)
  Color color = kBlack;
  Anchor anchor = Anchor::Left;  // where x is: the left end, the centre or the right end of each line
  bool background = false;       // fill the text's box (plus `pad`) with `back` first, for readability
  Color back = kWhite;
  int pad = 2;
};

// Switches to another font file (tests; a missing file). Throws InputError "<path>: cannot read the
// font (install Debian's fonts-dejavu-core: scripts/deps.sh)" when it cannot be read or parsed.
void load_font(const std::string& path = kDefaultFontPath);

// Width in pixels of the widest line of `text` ('\n' separates lines; UTF-8), at `size`.
int text_width(const std::string& text, double size);
// `text` (one line) cut short with a trailing ellipsis so that it is at most `max_width` pixels wide
// at `size` (unchanged when it fits; "" when not even the ellipsis fits).
std::string fit_text(const std::string& text, double size, int max_width);
// Height of one line, and of `text` with all its lines.
int line_height(double size);
int text_height(const std::string& text, double size);
// The box draw_text covers (without the background's pad) when drawn at (x, y): y is the top of the
// first line; x as style.anchor says.
Box text_box(int x, int y, const std::string& text, const TextStyle& style = {});
// Draws `text` (clipped to its box and the image); returns its box.
Box draw_text(Image& img, int x, int y, const std::string& text, const TextStyle& style = {});
// The same, turned 90 degrees anticlockwise (reads bottom to top, for y axis labels): (x, y) is the
// left edge and the vertical position of the anchor (Centre: the text's middle is at y).
Box draw_text_vertical(Image& img, int x, int y, const std::string& text, const TextStyle& style = {});

}  // namespace cvg::plot
