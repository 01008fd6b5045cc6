#include "analysis/vis/figure.h"

#include <algorithm>
#include <cmath>
#include <string>

// stb's public-domain vector font: text as axis-aligned quads, which we fill into the image.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace cvg {

namespace {
constexpr int kCellGap = 2;     // between patches of a grid
constexpr int kGridGap = 6;     // between a unit's patch grid and its projection grid
constexpr int kPairGap = 14;    // between net A's block and net B's (holds the rule)
constexpr int kColumnGap = 24;  // between pairs
constexpr uint8_t kRuleGrey = 150;

uint8_t to_byte(float v) { return (uint8_t)std::lround(std::clamp(v, 0.0f, 255.0f)); }

int grid_cols(int k) { return (int)std::ceil(std::sqrt((double)k)); }
int grid_rows(int k) { return (k + grid_cols(k) - 1) / grid_cols(k); }

Image grid(const std::vector<Image>& cells, int k, int cell_w, int cell_h, int scale) {
  const int cols = grid_cols(k), rows = grid_rows(k);
  const int cw = cell_w * scale, ch = cell_h * scale;
  Image g(cols * cw + (cols - 1) * kCellGap, rows * ch + (rows - 1) * kCellGap);
  for (int i = 0; i < (int)cells.size() && i < k; ++i)
    g.paste(cells[i].upscaled(scale), (i % cols) * (cw + kCellGap), (i / cols) * (ch + kCellGap));
  return g;
}

void cell_size(const UnitView& v, int& w, int& h) {
  w = h = 1;
  for (const auto* list : {&v.patches, &v.projections})
    if (!list->empty()) {
      w = (*list)[0].w, h = (*list)[0].h;
      return;
    }
}
}  // namespace

Image render_input(const float* chw, int c, int h, int w, const Normalisation& norm) {
  Image img(w, h);
  const size_t plane = (size_t)h * w;
  for (size_t p = 0; p < plane; ++p) {
    uint8_t* out = img.at((int)(p % w), (int)(p / w));
    auto pixel = [&](int ch) {
      int k = std::min(ch, 2);
      return 255.0f * (chw[ch * plane + p] * norm.std[k] + norm.mean[k]);
    };
    if (c == 3) {
      for (int ch = 0; ch < 3; ++ch) out[ch] = to_byte(pixel(ch));
    } else {
      float s = 0;
      for (int ch = 0; ch < c; ++ch) s += pixel(ch);
      out[0] = out[1] = out[2] = to_byte(s / c);
    }
  }
  return img;
}

Image render_projection(const float* chw, int c, int h, int w) {
  const size_t plane = (size_t)h * w;
  float peak = 0;
  for (size_t i = 0; i < c * plane; ++i) peak = std::max(peak, std::fabs(chw[i]));
  const float f = peak > 0 ? 127.0f / peak : 0.0f;
  Image img(w, h);
  for (size_t p = 0; p < plane; ++p) {
    uint8_t* out = img.at((int)(p % w), (int)(p / w));
    if (c == 3) {
      for (int ch = 0; ch < 3; ++ch) out[ch] = to_byte(128 + f * chw[ch * plane + p]);
    } else {
      float s = 0;
      for (int ch = 0; ch < c; ++ch) s += chw[ch * plane + p];
      out[0] = out[1] = out[2] = to_byte(128 + f * s / c);
    }
  }
  return img;
}

std::vector<float> black_fill(const Normalisation& norm, int c) {
  std::vector<float> f(c);
  for (int ch = 0; ch < c; ++ch) f[ch] = -norm.mean[std::min(ch, 2)] / norm.std[std::min(ch, 2)];
  return f;
}

int display_scale(int size, int min_px) { return std::max(1, (min_px + size - 1) / std::max(size, 1)); }

Image unit_block(const UnitView& v, int k, int scale) {
  int cw, ch;
  cell_size(v, cw, ch);
  Image top = grid(v.patches, k, cw, ch, scale), bottom = grid(v.projections, k, cw, ch, scale);
  Image b(top.w, top.h + kGridGap + bottom.h);
  b.paste(top, 0, 0);
  b.paste(bottom, 0, top.h + kGridGap);
  return b;
}

namespace {
// The font covers printable ASCII only; anything else (UTF-8 in a folder name) becomes '?'.
std::string printable(const std::string& t) {
  std::string s = t;
  for (char& c : s)
    if (c != '\n' && (c < 32 || c > 126)) c = '?';
  return s;
}
}  // namespace

int text_width(const std::string& text, int scale) {
  std::string s = printable(text);
  return stb_easy_font_width(s.data()) * scale;
}

void draw_text(Image& img, int x, int y, const std::string& text, int scale) {
  std::string s = printable(text);
  std::vector<float> quads(4 * 4 * (s.size() + 1) * 16);  // generous: ~ a dozen segments per glyph
  const int n = stb_easy_font_print(0, 0, s.data(), nullptr, quads.data(), (int)(quads.size() * sizeof(float)));
  for (int q = 0; q < n; ++q) {
    const float* v = &quads[(size_t)q * 16];  // 4 vertices of x, y, z, colour (4 bytes)
    const int x0 = x + (int)std::lround(v[0] * scale), y0 = y + (int)std::lround(v[1] * scale);
    const int x1 = x + (int)std::lround(v[8] * scale), y1 = y + (int)std::lround(v[9] * scale);
    for (int py = std::max(y0, 0); py < std::min(y1, img.h); ++py)
      for (int px = std::max(x0, 0); px < std::min(x1, img.w); ++px) {
        uint8_t* p = img.at(px, py);
        p[0] = p[1] = p[2] = 0;
      }
  }
}

Image pairs_figure(const std::vector<std::pair<UnitView, UnitView>>& pairs, int k, int scale, const std::string& title,
                   const std::vector<std::string>& column_labels) {
  std::vector<std::pair<Image, Image>> blocks;
  int col_w = 1, a_h = 1, b_h = 1;
  for (const auto& p : pairs) {
    blocks.emplace_back(unit_block(p.first, k, scale), unit_block(p.second, k, scale));
    col_w = std::max({col_w, blocks.back().first.w, blocks.back().second.w});
    a_h = std::max(a_h, blocks.back().first.h), b_h = std::max(b_h, blocks.back().second.h);
  }
  const int n = std::max<int>(1, (int)blocks.size());
  Image fig(n * col_w + (n - 1) * kColumnGap, a_h + kPairGap + b_h);
  for (int i = 0; i < (int)blocks.size(); ++i) {
    const int x = i * (col_w + kColumnGap);
    fig.paste(blocks[i].first, x, 0);
    for (int y = a_h + kPairGap / 2 - 1; y <= a_h + kPairGap / 2; ++y)
      for (int dx = 0; dx < col_w; ++dx) {
        uint8_t* px = fig.at(x + dx, y);
        px[0] = px[1] = px[2] = kRuleGrey;
      }
    fig.paste(blocks[i].second, x, a_h + kPairGap);
  }
  if (title.empty() && column_labels.empty()) return fig;
  // A header band: the title, then each column's label (one or two lines) above its column.
  constexpr int kLine = 12, kMargin = 4;
  const int title_lines = title.empty() ? 0 : 1 + (int)std::count(title.begin(), title.end(), '\n');
  int label_lines = 0;
  for (const std::string& l : column_labels) label_lines = std::max(label_lines, 1 + (int)std::count(l.begin(), l.end(), '\n'));
  const int band = kMargin + (title_lines + label_lines) * kLine + kMargin;
  Image out(std::max(fig.w, text_width(title) + 2 * kMargin), fig.h + band);
  out.paste(fig, 0, band);
  if (!title.empty()) draw_text(out, kMargin, kMargin, title);
  for (size_t i = 0; i < column_labels.size() && i < blocks.size(); ++i)
    draw_text(out, (int)i * (col_w + kColumnGap), kMargin + title_lines * kLine, column_labels[i]);
  return out;
}

}  // namespace cvg
