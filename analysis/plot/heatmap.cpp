#include "analysis/plot/heatmap.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "analysis/plot/font.h"
#include "analysis/plot/ticks.h"

namespace cvg::plot {

namespace {
constexpr int kPad = 8, kBarWidth = 16, kBarGap = 14, kTickLen = 4;
constexpr double kTitleSize = 15, kLabelSize = 13, kTickSize = 11;

Color mix(Color a, Color b, double t) {
  auto m = [t](uint8_t x, uint8_t y) { return (uint8_t)std::lround(x + (y - x) * t); };
  return {m(a.r, b.r), m(a.g, b.g), m(a.b, b.b)};
}

// Integer ticks (unit indices) over [0, n - 1].
Ticks index_ticks(int n) {
  Ticks t = nice_ticks(0, std::max(0, n - 1), 6), out;
  for (size_t i = 0; i < t.values.size(); ++i)
    if (t.values[i] == std::floor(t.values[i]))
      out.values.push_back(t.values[i]), out.labels.push_back(format_number(t.values[i], 0));
  return out;
}

int widest(const std::vector<std::string>& labels, double size) {
  int w = 0;
  for (const std::string& l : labels) w = std::max(w, text_width(l, size));
  return w;
}
}  // namespace

Color scale_color(double v, double vmin, double vmax, ColorScale scale) {
  if (std::isnan(v)) return kGrey;
  const double t = vmax > vmin ? std::clamp((v - vmin) / (vmax - vmin), 0.0, 1.0) : 0.5;
  if (scale == ColorScale::Sequential) return mix(kWhite, {8, 48, 107}, t);
  // White in the middle, towards (178, 24, 43) red above and (33, 102, 172) blue below.
  return t >= 0.5 ? mix(kWhite, {178, 24, 43}, 2 * t - 1) : mix(kWhite, {33, 102, 172}, 1 - 2 * t);
}

Heatmap render_heatmap(const double* m, int rows, int cols, const HeatmapSpec& spec) {
  if (rows < 1 || cols < 1)
    throw std::invalid_argument("render_heatmap: a matrix of " + std::to_string(rows) + " x " + std::to_string(cols));
  Heatmap h;
  const int n = std::max(rows, cols), max_px = std::max(spec.max_px, 1);
  if (n > max_px) {
    h.block = (n + max_px - 1) / max_px;
    h.note = "each pixel is the mean of a " + std::to_string(h.block) + " x " + std::to_string(h.block) + " block of entries";
  } else {
    h.cell = std::max(1, std::min(max_px / n, (spec.min_px + n - 1) / n));
  }
  const int mw = h.block > 1 ? (cols + h.block - 1) / h.block : cols * h.cell;
  const int mh = h.block > 1 ? (rows + h.block - 1) / h.block : rows * h.cell;

  // Layout, outside in: title above; y label and row ticks left; column ticks, x label and the
  // note below; the colour bar with its ticks and label right.
  const Ticks rt = index_ticks(rows), ct = index_ticks(cols), bt = nice_ticks(spec.vmin, spec.vmax, 6);
  const int lh_tick = line_height(kTickSize), lh_label = line_height(kLabelSize);
  const int top = kPad + (spec.title.empty() ? 0 : line_height(kTitleSize) + 6);
  const int left = kPad + (spec.y_label.empty() ? 0 : lh_label + 4) + widest(rt.labels, kTickSize) + kTickLen + 3;
  const int bar_x = left + mw + kBarGap;
  const int right =
      kBarGap + kBarWidth + kTickLen + 3 + widest(bt.labels, kTickSize) + (spec.colorbar_label.empty() ? 0 : 6 + lh_label) + kPad;
  const int bottom =
      kTickLen + 2 + lh_tick + (spec.x_label.empty() ? 0 : lh_label + 2) + (h.note.empty() ? 0 : lh_tick + 2) + kPad;
  const int width = std::max(left + mw + right, spec.title.empty() ? 0 : text_width(spec.title, kTitleSize) + 2 * kPad);
  h.image = Image(width, top + mh + bottom);
  h.matrix = {left, top, left + mw, top + mh};
  Image& img = h.image;

  // The matrix: each pixel one entry (cell x cell when enlarged) or the mean of a block's finite entries.
  for (int py = 0; py < mh; ++py)
    for (int px = 0; px < mw; ++px) {
      double v;
      if (h.block > 1) {
        double sum = 0;
        int cnt = 0;
        for (int r = py * h.block; r < std::min(rows, (py + 1) * h.block); ++r)
          for (int c = px * h.block; c < std::min(cols, (px + 1) * h.block); ++c) {
            const double x = m[(size_t)r * cols + c];
            if (std::isfinite(x)) sum += x, ++cnt;
          }
        v = cnt ? sum / cnt : NAN;
      } else {
        v = m[(size_t)(py / h.cell) * cols + px / h.cell];
      }
      const Color c = scale_color(v, spec.vmin, spec.vmax, spec.scale);
      uint8_t* p = img.at(left + px, top + py);
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
  // Entry index -> pixel offset along an axis (the start of the entry's cell or block).
  auto to_px = [&](double i) { return h.block > 1 ? (int)std::lround(i / h.block) : (int)std::lround(i * h.cell); };
  for (int b : spec.row_borders)
    if (b > 0 && b < rows) hline(img, left, left + mw, top + std::min(to_px(b), mh - 1), kBlack);
  for (int b : spec.col_borders)
    if (b > 0 && b < cols) vline(img, left + std::min(to_px(b), mw - 1), top, top + mh, kBlack);
  outline_rect(img, {left - 1, top - 1, left + mw + 1, top + mh + 1}, kBlack);

  TextStyle tick;
  tick.size = kTickSize;
  // Row ticks at the middle of their rows, column ticks under the middle of their columns.
  tick.anchor = Anchor::Right;
  for (size_t i = 0; i < rt.values.size(); ++i) {
    const int y = top + to_px(rt.values[i]) + std::max(1, h.cell) / 2;
    hline(img, left - 1 - kTickLen, left - 1, y, kBlack);
    draw_text(img, left - kTickLen - 3, y - lh_tick / 2, rt.labels[i], tick);
  }
  tick.anchor = Anchor::Centre;
  for (size_t i = 0; i < ct.values.size(); ++i) {
    const int x = left + to_px(ct.values[i]) + std::max(1, h.cell) / 2;
    vline(img, x, top + mh + 1, top + mh + 1 + kTickLen, kBlack);
    draw_text(img, x, top + mh + kTickLen + 2, ct.labels[i], tick);
  }
  // The colour bar: vmax at the top, vmin at the bottom.
  for (int y = 0; y < mh; ++y) {
    const double v = spec.vmax - (spec.vmax - spec.vmin) * (mh > 1 ? (double)y / (mh - 1) : 0.5);
    hline(img, bar_x, bar_x + kBarWidth, top + y, scale_color(v, spec.vmin, spec.vmax, spec.scale));
  }
  outline_rect(img, {bar_x - 1, top - 1, bar_x + kBarWidth + 1, top + mh + 1}, kBlack);
  tick.anchor = Anchor::Left;
  const AxisMap bar_map{spec.vmin, spec.vmax, (double)(top + mh - 1), (double)top};
  for (size_t i = 0; i < bt.values.size(); ++i) {
    const int y = (int)std::lround(bar_map(bt.values[i]));
    hline(img, bar_x + kBarWidth + 1, bar_x + kBarWidth + 1 + kTickLen, y, kBlack);
    draw_text(img, bar_x + kBarWidth + kTickLen + 3, y - lh_tick / 2, bt.labels[i], tick);
  }

  TextStyle label;
  label.size = kLabelSize, label.anchor = Anchor::Centre;
  if (!spec.colorbar_label.empty()) draw_text_vertical(img, width - kPad - lh_label, top + mh / 2, spec.colorbar_label, label);
  if (!spec.y_label.empty()) draw_text_vertical(img, kPad, top + mh / 2, spec.y_label, label);
  int y = top + mh + kTickLen + 2 + lh_tick;
  if (!spec.x_label.empty()) draw_text(img, left + mw / 2, y, spec.x_label, label), y += lh_label + 2;
  if (!h.note.empty()) {
    TextStyle note = tick;
    note.anchor = Anchor::Centre, note.color = {80, 80, 80};
    draw_text(img, left + mw / 2, y, h.note, note);
  }
  if (!spec.title.empty()) {
    TextStyle title;
    title.size = kTitleSize, title.anchor = Anchor::Centre;
    draw_text(img, width / 2, kPad, spec.title, title);
  }
  return h;
}

}  // namespace cvg::plot
