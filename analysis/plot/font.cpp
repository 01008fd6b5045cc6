#include "analysis/plot/font.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_truetype.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "analysis/plot/utf8.h"
#include "base/errors.h"

namespace cvg::plot {

namespace {

struct Font {
  std::string bytes;  // stb_truetype reads the file's bytes in place
  stbtt_fontinfo info{};
  int ascent = 0, descent = 0;
};

std::mutex g_font_mutex;
std::shared_ptr<const Font> g_font;

std::shared_ptr<const Font> open_font(const std::string& path) {
  const std::string why = path + ": cannot read the font (install Debian's fonts-dejavu-core: scripts/deps.sh)";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(why);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto f = std::make_shared<Font>();
  f->bytes = ss.str();
  const auto* data = reinterpret_cast<const unsigned char*>(f->bytes.data());
  if (f->bytes.size() < 12 || stbtt_GetFontOffsetForIndex(data, 0) < 0) throw InputError(why);
  // stb_truetype trusts the file's table offsets: check the table directory before handing it over.
  const size_t tables = (size_t)(data[4] << 8 | data[5]);
  if (12 + 16 * tables > f->bytes.size()) throw InputError(why);
  for (size_t t = 0; t < tables; ++t) {
    const unsigned char* e = data + 12 + 16 * t;
    const uint64_t off = (uint64_t)e[8] << 24 | e[9] << 16 | e[10] << 8 | e[11];
    const uint64_t len = (uint64_t)e[12] << 24 | e[13] << 16 | e[14] << 8 | e[15];
    if (off + len > f->bytes.size()) throw InputError(why);
  }
  if (!stbtt_InitFont(&f->info, data, 0)) throw InputError(why);
  int gap = 0;
  stbtt_GetFontVMetrics(&f->info, &f->ascent, &f->descent, &gap);
  if (f->ascent <= f->descent) throw InputError(why);
  return f;
}

std::shared_ptr<const Font> font() {
  std::lock_guard<std::mutex> lock(g_font_mutex);
  if (!g_font) g_font = open_font(kDefaultFontPath);
  return g_font;
}

float scale_of(const Font& f, double size) { return stbtt_ScaleForPixelHeight(&f.info, (float)size); }

// One line of text, laid out: each glyph's pen position, and the line's extent in pixels relative to
// the pen's start (ink and advance together, so that every drawn pixel lies inside it).
struct Line {
  std::vector<int> glyphs;
  std::vector<float> pen;
  int x_min = 0, x_max = 0;
  int width() const { return x_max - x_min; }
};

Line layout(const Font& f, const std::string& utf8, double size) {
  Line l;
  const float s = scale_of(f, size);
  float pen = 0;
  int prev = 0;
  for (char32_t c : utf8_decode(utf8)) {
    const int g = stbtt_FindGlyphIndex(&f.info, (int)c);
    if (prev) pen += s * stbtt_GetGlyphKernAdvance(&f.info, prev, g);
    int advance = 0, lsb = 0;
    stbtt_GetGlyphHMetrics(&f.info, g, &advance, &lsb);
    int x0, y0, x1, y1;
    stbtt_GetGlyphBitmapBoxSubpixel(&f.info, g, s, s, pen - std::floor(pen), 0, &x0, &y0, &x1, &y1);
    if (x1 > x0) l.x_min = std::min(l.x_min, (int)std::floor(pen) + x0), l.x_max = std::max(l.x_max, (int)std::floor(pen) + x1);
    l.glyphs.push_back(g), l.pen.push_back(pen);
    pen += s * advance;
    prev = g;
  }
  l.x_max = std::max(l.x_max, (int)std::ceil(pen));
  return l;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string l;
  while (std::getline(ss, l, '\n')) lines.push_back(l);
  if (lines.empty() || (!text.empty() && text.back() == '\n')) lines.push_back("");
  return lines;
}

// A line's coverage (0..255), width() x line_height(size), pen start at column -x_min.
struct Mask {
  int w = 0, h = 0;
  std::vector<uint8_t> a;
};

Mask rasterize(const Font& f, const Line& l, double size) {
  Mask m;
  m.w = l.width(), m.h = line_height(size);
  m.a.assign((size_t)m.w * m.h, 0);
  const float s = scale_of(f, size);
  const int baseline = (int)std::lround(f.ascent * s + (m.h - size) / 2);
  std::vector<uint8_t> glyph;
  for (size_t i = 0; i < l.glyphs.size(); ++i) {
    const float shift = l.pen[i] - std::floor(l.pen[i]);
    int x0, y0, x1, y1;
    stbtt_GetGlyphBitmapBoxSubpixel(&f.info, l.glyphs[i], s, s, shift, 0, &x0, &y0, &x1, &y1);
    const int gw = x1 - x0, gh = y1 - y0;
    if (gw <= 0 || gh <= 0) continue;
    glyph.assign((size_t)gw * gh, 0);
    stbtt_MakeGlyphBitmapSubpixel(&f.info, glyph.data(), gw, gh, gw, s, s, shift, 0, l.glyphs[i]);
    const int ox = (int)std::floor(l.pen[i]) + x0 - l.x_min, oy = baseline + y0;
    for (int y = 0; y < gh; ++y)
      for (int x = 0; x < gw; ++x) {
        const int mx = ox + x, my = oy + y;
        if (mx < 0 || my < 0 || mx >= m.w || my >= m.h) continue;  // clipped to the line's box
        uint8_t& a = m.a[(size_t)my * m.w + mx];
        a = (uint8_t)std::min(255, a + glyph[(size_t)y * gw + x]);
      }
  }
  return m;
}

// Where a line of `w` pixels starts when its anchor is at `at`.
int anchored(int at, int w, Anchor anchor) { return anchor == Anchor::Left ? at : anchor == Anchor::Right ? at - w : at - w / 2; }

// Lays out every line and calls put(line index, its start along the text direction, its Mask or null
// for measuring only); returns the union of the lines' spans [lo, hi) along the text direction.
template <class Put>
void for_lines(const std::string& text, const TextStyle& st, int at, bool render, int& lo, int& hi, Put put) {
  const std::shared_ptr<const Font> f = font();
  const std::vector<std::string> lines = split_lines(text);
  lo = at, hi = at;
  for (size_t i = 0; i < lines.size(); ++i) {
    const Line l = layout(*f, lines[i], st.size);
    const int start = anchored(at, l.width(), st.anchor);
    if (i == 0 || l.width() > 0)
      lo = std::min(i == 0 ? start : lo, start), hi = std::max(i == 0 ? start + l.width() : hi, start + l.width());
    if (render) {
      const Mask m = rasterize(*f, l, st.size);
      put((int)i, start, m);
    }
  }
}

}  // namespace

void load_font(const std::string& path) {
  std::shared_ptr<const Font> f = open_font(path);
  std::lock_guard<std::mutex> lock(g_font_mutex);
  g_font = f;
}

int line_height(double size) { return (int)std::ceil(size * 1.25); }

int text_height(const std::string& text, double size) { return (int)split_lines(text).size() * line_height(size); }

int text_width(const std::string& text, double size) {
  const std::shared_ptr<const Font> f = font();
  int w = 0;
  for (const std::string& l : split_lines(text)) w = std::max(w, layout(*f, l, size).width());
  return w;
}

std::string fit_text(const std::string& text, double size, int max_width) {
  if (text_width(text, size) <= max_width) return text;
  const std::string ellipsis = "\xe2\x80\xa6";  // U+2026
  std::u32string cps = utf8_decode(text);
  while (!cps.empty()) {
    cps.pop_back();
    std::string s;
    for (char32_t c : cps) utf8_append(s, c);
    s += ellipsis;
    if (text_width(s, size) <= max_width) return s;
  }
  return text_width(ellipsis, size) <= max_width ? ellipsis : "";
}

Box text_box(int x, int y, const std::string& text, const TextStyle& st) {
  int lo, hi;
  for_lines(text, st, x, false, lo, hi, [](int, int, const Mask&) {});
  return {lo, y, hi, y + text_height(text, st.size)};
}

Box draw_text(Image& img, int x, int y, const std::string& text, const TextStyle& st) {
  const Box b = text_box(x, y, text, st);
  if (st.background) fill_rect(img, {b.x0 - st.pad, b.y0 - st.pad, b.x1 + st.pad, b.y1 + st.pad}, st.back);
  const int lh = line_height(st.size);
  int lo, hi;
  for_lines(text, st, x, true, lo, hi, [&](int i, int start, const Mask& m) {
    for (int my = 0; my < m.h; ++my)
      for (int mx = 0; mx < m.w; ++mx) blend_pixel(img, start + mx, y + i * lh + my, st.color, m.a[(size_t)my * m.w + mx]);
  });
  return b;
}

Box draw_text_vertical(Image& img, int x, int y, const std::string& text, const TextStyle& st) {
  // Laid out along y as a horizontal line along x would be, then turned: the line's column mx lands
  // on row (end - 1 - mx), its row my on column x + my; later lines to the right.
  const int lh = line_height(st.size);
  int lo, hi;
  for_lines(text, st, y, false, lo, hi, [](int, int, const Mask&) {});
  // The anchor measured along y: Left (start of the text) is at y and the text rises above it.
  const int span = hi - lo, rows0 = st.anchor == Anchor::Left ? y - span : st.anchor == Anchor::Right ? y : y - span / 2;
  const Box b{x, rows0, x + text_height(text, st.size), rows0 + span};
  if (st.background) fill_rect(img, {b.x0 - st.pad, b.y0 - st.pad, b.x1 + st.pad, b.y1 + st.pad}, st.back);
  for_lines(text, st, y, true, lo, hi, [&](int i, int start, const Mask& m) {
    const int end = b.y1 - (start - lo);  // the line's first column lands on row end - 1
    for (int my = 0; my < m.h; ++my)
      for (int mx = 0; mx < m.w; ++mx) blend_pixel(img, x + i * lh + my, end - 1 - mx, st.color, m.a[(size_t)my * m.w + mx]);
  });
  return b;
}

}  // namespace cvg::plot
