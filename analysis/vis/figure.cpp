#include "analysis/vis/figure.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "analysis/plot/font.h"

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
constexpr double kTitleSize = 13, kHeaderSize = 12, kCaptionSize = 11;
constexpr int kMargin = 4;

int lines_height(const std::string& text, double size) { return text.empty() ? 0 : plot::text_height(text, size); }
}  // namespace

Image with_caption(const Image& img, const std::string& caption) {
  const int band = kMargin + lines_height(caption, kCaptionSize) + kMargin;
  Image out(std::max(img.w, plot::text_width(caption, kCaptionSize) + 2 * kMargin), img.h + band);
  out.paste(img, 0, band);
  plot::TextStyle st;
  st.size = kCaptionSize;
  plot::draw_text(out, kMargin, kMargin, caption, st);
  return out;
}

Image pairs_figure(const std::vector<std::pair<UnitView, UnitView>>& pairs, int k, int scale, const PairFigureLabels& labels) {
  std::vector<std::pair<Image, Image>> blocks;
  int col_w = 1, a_h = 1, b_h = 1;
  for (const auto& p : pairs) {
    blocks.emplace_back(unit_block(p.first, k, scale), unit_block(p.second, k, scale));
    col_w = std::max({col_w, blocks.back().first.w, blocks.back().second.w});
    a_h = std::max(a_h, blocks.back().first.h), b_h = std::max(b_h, blocks.back().second.h);
  }
  // Bands, top to bottom: title, column headers, A's caption strip, A's blocks, the rule, B's
  // caption strip, B's blocks. A strip of row names on the left.
  int header_h = 0, strip_h = 0;
  for (const PairFigureLabels::Pair& l : labels.pairs) {
    header_h = std::max(header_h, lines_height(l.header, kHeaderSize));
    if (!l.unit_a.empty() || !l.unit_b.empty()) strip_h = plot::line_height(kCaptionSize) + 2;
    col_w = std::max({col_w, plot::text_width(l.header, kHeaderSize), plot::text_width(l.unit_a, kCaptionSize),
                      plot::text_width(l.unit_b, kCaptionSize)});
  }
  if (header_h) header_h += kMargin;
  const int title_h = labels.title.empty() ? 0 : kMargin + lines_height(labels.title, kTitleSize) + kMargin;
  const int rows_w = labels.row_a.empty() && labels.row_b.empty() ? 0 : plot::line_height(kHeaderSize) + 2 * kMargin;
  const int n = std::max<int>(1, (int)blocks.size());
  const int grid_w = n * col_w + (n - 1) * kColumnGap;
  const int a_y = title_h + header_h + strip_h, b_y = a_y + a_h + kPairGap + strip_h;
  Image fig(std::max(rows_w + grid_w, labels.title.empty() ? 0 : plot::text_width(labels.title, kTitleSize) + 2 * kMargin),
            b_y + b_h);
  plot::TextStyle header, caption, row;
  header.size = kHeaderSize, header.anchor = plot::Anchor::Centre;
  caption.size = kCaptionSize, caption.anchor = plot::Anchor::Centre;
  row.size = kHeaderSize, row.anchor = plot::Anchor::Centre;
  for (int i = 0; i < (int)blocks.size(); ++i) {
    const int x = rows_w + i * (col_w + kColumnGap), mid = x + col_w / 2;
    fig.paste(blocks[i].first, x, a_y);
    plot::hline(fig, x, x + col_w, a_y + a_h + kPairGap / 2 - 1, {kRuleGrey, kRuleGrey, kRuleGrey}, 2);
    fig.paste(blocks[i].second, x, b_y);
    if (i >= (int)labels.pairs.size()) continue;
    const PairFigureLabels::Pair& l = labels.pairs[i];
    plot::draw_text(fig, mid, title_h, l.header, header);
    plot::draw_text(fig, mid, a_y - strip_h, l.unit_a, caption);
    plot::draw_text(fig, mid, b_y - strip_h, l.unit_b, caption);
  }
  // Row names along their row's blocks, cut short where a block is shorter than the name.
  if (!labels.row_a.empty())
    plot::draw_text_vertical(fig, kMargin, a_y + a_h / 2, plot::fit_text(labels.row_a, kHeaderSize, a_h), row);
  if (!labels.row_b.empty())
    plot::draw_text_vertical(fig, kMargin, b_y + b_h / 2, plot::fit_text(labels.row_b, kHeaderSize, b_h), row);
  if (!labels.title.empty()) {
    plot::TextStyle title;
    title.size = kTitleSize;
    plot::draw_text(fig, kMargin, kMargin, labels.title, title);
  }
  return fig;
}

}  // namespace cvg
