#include "analysis/plot/svg_chart.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "analysis/plot/ticks.h"
#include "analysis/plot/utf8.h"

namespace cvg::plot {

namespace {
// Text sizes (px) and the width of an average character of a sans-serif font, for layout: the SVG
// viewer picks the font, so widths are estimates with some room to spare.
constexpr double kTitle = 16, kLabel = 13, kTick = 11, kLegend = 12, kCaption = 12, kCharWidth = 0.6;
constexpr double kMarker = 4;  // marker radius

double estimate_width(const std::string& s, double size) { return utf8_decode(s).size() * size * kCharWidth; }

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return std::string(b) == "-0.0" ? "0.0" : b;
}

std::string text(double x, double y, const std::string& s, double size, const char* anchor, const std::string& extra = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\" text-anchor=\"" + anchor + "\"" +
         extra + ">" + xml_escape(s) + "</text>\n";
}

// Greedy word wrap at about `chars` characters per line.
std::vector<std::string> wrap(const std::string& s, size_t chars) {
  std::vector<std::string> lines;
  std::string line, word;
  auto flush_word = [&] {
    if (word.empty()) return;
    if (!line.empty() && utf8_decode(line + " " + word).size() > chars) lines.push_back(line), line.clear();
    line += (line.empty() ? "" : " ") + word;
    word.clear();
  };
  for (char c : s) (c == ' ' || c == '\n') ? flush_word() : (void)(word += c);
  flush_word();
  if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string marker(MarkerShape m, double x, double y, const std::string& color) {
  const std::string fill = "fill=\"" + color + "\"";
  const double r = kMarker;
  switch (m) {
    case MarkerShape::Square:
      return "<rect x=\"" + num(x - r) + "\" y=\"" + num(y - r) + "\" width=\"" + num(2 * r) + "\" height=\"" + num(2 * r) +
             "\" " + fill + "/>\n";
    case MarkerShape::Diamond:
      return "<polygon points=\"" + num(x) + "," + num(y - r * 1.4) + " " + num(x + r * 1.4) + "," + num(y) + " " + num(x) + "," +
             num(y + r * 1.4) + " " + num(x - r * 1.4) + "," + num(y) + "\" " + fill +
             " stroke=\"black\" stroke-width=\"0.8\"/>\n";
    case MarkerShape::Triangle:
      return "<polygon points=\"" + num(x) + "," + num(y - r * 1.3) + " " + num(x + r * 1.2) + "," + num(y + r) + " " +
             num(x - r * 1.2) + "," + num(y + r) + "\" " + fill + "/>\n";
    case MarkerShape::Circle:
      break;
  }
  return "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"" + num(r) + "\" " + fill + "/>\n";
}

bool has_line(SeriesKind k) { return k == SeriesKind::Line || k == SeriesKind::LineMarkers; }
bool has_markers(SeriesKind k) { return k == SeriesKind::Markers || k == SeriesKind::LineMarkers; }

double x_of(const Series& s, size_t i) { return s.x.empty() ? (double)i : s.x[i]; }

void check(const Chart& c) {
  for (const Series& s : c.series) {
    if ((!s.x.empty() && s.x.size() != s.y.size()) || (!s.lo.empty() && s.lo.size() != s.y.size()) ||
        (!s.hi.empty() && s.hi.size() != s.y.size()))
      throw std::invalid_argument("chart '" + c.title + "': series '" + s.name + "' has x, lo or hi of another length than y");
    if (c.log_x)
      for (size_t i = 0; i < s.y.size(); ++i)
        if (!(x_of(s, i) > 0)) throw std::invalid_argument("chart '" + c.title + "': log x axis with x <= 0 in '" + s.name + "'");
  }
}

// The data's extent along x and y (error bars included; bars reach down to 0).
void data_range(const Chart& c, double& x0, double& x1, double& y0, double& y1) {
  x0 = y0 = INFINITY, x1 = y1 = -INFINITY;
  for (const Series& s : c.series)
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, x_of(s, i)), x1 = std::max(x1, x_of(s, i));
      y0 = std::min(y0, s.y[i]), y1 = std::max(y1, s.y[i]);
      for (const auto* v : {&s.lo, &s.hi})
        if (!v->empty() && std::isfinite((*v)[i])) y0 = std::min(y0, (*v)[i]), y1 = std::max(y1, (*v)[i]);
      if (s.kind == SeriesKind::Bars) y0 = std::min(y0, 0.0), y1 = std::max(y1, 0.0);
    }
  if (!(x0 <= x1)) x0 = c.log_x ? 1 : 0, x1 = c.log_x ? 10 : 1;
  if (!(y0 <= y1)) y0 = 0, y1 = 1;
}
}  // namespace

const std::string& palette_color(size_t i) {
  // Okabe & Ito's colour-blind-safe palette (black last).
  static const std::string kPalette[8] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"};
  return kPalette[i % 8];
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char32_t c : utf8_decode(s)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // XML 1.0 allows tab, newline, carriage return and nothing else below 0x20, nor U+FFFE/FFFF.
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xfffe || c == 0xffff) break;
        utf8_append(out, c);
    }
  }
  return out;
}

std::string render_svg(const Chart& c) {
  check(c);
  const bool categorical = !c.categories.empty();
  double x0, x1, y0, y1;
  data_range(c, x0, x1, y0, y1);
  if (c.y_min < c.y_max) {
    y0 = c.y_min, y1 = c.y_max;
  } else {
    nice_range(y0, y1);
  }
  if (categorical) {
    x0 = -0.5, x1 = (double)c.categories.size() - 0.5;
  } else if (c.x_min < c.x_max) {
    x0 = c.x_min, x1 = c.x_max;
  } else if (c.log_x) {
    // 4% of the decades spanned on either side, so that points at the ends are not cut in half.
    const double a = std::log10(x0), b = std::log10(x1), pad = a == b ? 0.5 : 0.04 * (b - a);
    x0 = std::pow(10.0, a - pad), x1 = std::pow(10.0, b + pad);
  } else {
    nice_range(x0, x1);
    const double pad = 0.04 * (x1 - x0);
    x0 -= pad, x1 += pad;
  }
  // About one y tick per 45 px of height and one x tick per 80 px of width, so labels never crowd.
  const Ticks yt = nice_ticks(y0, y1, std::clamp((c.height - 100) / 45, 2, 11));

  // Layout: title on top, y label and tick labels on the left, x ticks and label below, the legend
  // right of the plot area (or below it when that would take over a third of the width).
  std::vector<const Series*> legend;
  double legend_text = 0;
  for (const Series& s : c.series)
    if (!s.name.empty()) legend.push_back(&s), legend_text = std::max(legend_text, estimate_width(s.name, kLegend));
  const double entry_w = 30 + legend_text;
  const bool legend_right = !legend.empty() && entry_w + 16 <= c.width / 3.0;
  double tick_w = 0;
  for (const std::string& l : yt.labels) tick_w = std::max(tick_w, estimate_width(l, kTick));
  double cat_w = 0;
  for (const std::string& l : c.categories) cat_w = std::max(cat_w, estimate_width(l, kTick));
  const double left = 10 + (c.y_label.empty() ? 0 : kLabel + 8) + tick_w + 8;
  const double right = legend_right ? entry_w + 24 : 16;
  const double top = c.title.empty() ? 12 : kTitle + 20;
  const double plot_w0 = c.width - left - right;
  const bool slanted = categorical && cat_w + 6 > plot_w0 / c.categories.size();
  const double tick_h = slanted ? cat_w * 0.71 + kTick : kTick + 4;
  const int legend_cols = legend_right ? 1 : std::max(1, (int)((c.width - 20) / entry_w));
  const int legend_rows = legend.empty() || legend_right ? 0 : (int)(legend.size() + legend_cols - 1) / legend_cols;
  const double below_axis = 8 + tick_h + (c.x_label.empty() ? 0 : kLabel + 8);
  const double legend_h = legend_rows * (kLegend + 8);
  const double bottom = below_axis + legend_h + 8;
  const double plot_h = std::max(40.0, c.height - top - bottom);
  const double plot_w = std::max(40.0, plot_w0);
  const Ticks xt = categorical ? Ticks{}
                   : c.log_x   ? log_ticks(x0, x1)
                               : nice_ticks(x0, x1, std::clamp((int)(plot_w / 80), 2, 11));
  const double px0 = left, px1 = left + plot_w, py0 = top + plot_h, py1 = top;
  const AxisMap mx{x0, x1, px0, px1, c.log_x && !categorical}, my{y0, y1, py0, py1, false};
  const std::vector<std::string> caption = wrap(c.caption, (size_t)std::max(20.0, (c.width - 20) / (kCaption * kCharWidth)));
  const double total_h = c.height + caption.size() * (kCaption + 5) + (caption.empty() ? 0 : 6);

  static std::atomic<unsigned> counter{0};
  const std::string clip =
      "plotclip" + std::to_string(counter++) + "_" + std::to_string(std::hash<std::string>{}(c.title) % 100000);
  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(c.width) + "\" height=\"" + num(total_h) +
       "\" viewBox=\"0 0 " + std::to_string(c.width) + " " + num(total_h) + "\" font-family=\"sans-serif\" role=\"img\">\n";
  o += "<title>" + xml_escape(c.title) + "</title>\n";
  if (!c.caption.empty()) o += "<desc>" + xml_escape(c.caption) + "</desc>\n";
  o += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(c.width) + "\" height=\"" + num(total_h) + "\" fill=\"white\"/>\n";
  o += "<defs><clipPath id=\"" + clip + "\"><rect x=\"" + num(px0) + "\" y=\"" + num(py1) + "\" width=\"" + num(plot_w) +
       "\" height=\"" + num(plot_h) + "\"/></clipPath></defs>\n";
  if (!c.title.empty()) o += text(c.width / 2.0, 8 + kTitle, c.title, kTitle, "middle", " font-weight=\"bold\"");

  // Grid and y ticks.
  for (size_t i = 0; i < yt.values.size(); ++i) {
    const double y = my(yt.values[i]);
    o += "<line x1=\"" + num(px0) + "\" y1=\"" + num(y) + "\" x2=\"" + num(px1) + "\" y2=\"" + num(y) +
         "\" stroke=\"#e0e0e0\" stroke-width=\"1\"/>\n";
    o += text(px0 - 6, y + kTick * 0.35, yt.labels[i], kTick, "end");
  }
  // x ticks: numbers, or category names under each slot (slanted when they do not fit).
  const double xtick_y = py0 + 6 + kTick;
  for (size_t i = 0; i < xt.values.size(); ++i) {
    const double x = mx(xt.values[i]);
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(py0) + "\" x2=\"" + num(x) + "\" y2=\"" + num(py0 + 4) +
         "\" stroke=\"black\"/>\n";
    o += text(x, xtick_y, xt.labels[i], kTick, "middle");
  }
  for (size_t i = 0; i < c.categories.size(); ++i) {
    const double x = mx((double)i);
    if (slanted)
      o += text(x, xtick_y, c.categories[i], kTick, "end", " transform=\"rotate(-45 " + num(x) + " " + num(xtick_y) + ")\"");
    else
      o += text(x, xtick_y, c.categories[i], kTick, "middle");
  }
  o += "<rect x=\"" + num(px0) + "\" y=\"" + num(py1) + "\" width=\"" + num(plot_w) + "\" height=\"" + num(plot_h) +
       "\" fill=\"none\" stroke=\"black\" stroke-width=\"1\"/>\n";
  if (!c.x_label.empty()) o += text((px0 + px1) / 2, py0 + 8 + tick_h + kLabel, c.x_label, kLabel, "middle");
  if (!c.y_label.empty()) {
    const double lx = 10 + kLabel, ly = (py0 + py1) / 2;
    o += text(lx, ly, c.y_label, kLabel, "middle", " transform=\"rotate(-90 " + num(lx) + " " + num(ly) + ")\"");
  }

  // Series, clipped to the plot area. Bars of several series share each slot side by side.
  std::vector<const Series*> bars;
  for (const Series& s : c.series)
    if (s.kind == SeriesKind::Bars) bars.push_back(&s);
  double slot = categorical ? plot_w / c.categories.size() : plot_w / 10;
  if (!categorical)
    for (const Series* s : bars)
      for (size_t i = 1; i < s->y.size(); ++i) slot = std::min(slot, std::fabs(mx(x_of(*s, i)) - mx(x_of(*s, i - 1))));
  const double bar_w = bars.empty() ? 0 : 0.8 * slot / bars.size();
  std::vector<std::string> colors;
  o += "<g clip-path=\"url(#" + clip + ")\">\n";
  size_t auto_color = 0, bar_index = 0;
  for (const Series& s : c.series) {
    const std::string color = s.color.empty() ? palette_color(auto_color++) : s.color;
    colors.push_back(color);
    const std::string dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
    const double shift = s.kind == SeriesKind::Bars ? (bar_index++ - (bars.size() - 1) / 2.0) * bar_w : 0;
    if (has_line(s.kind)) {
      std::string pts;
      auto flush = [&] {
        if (!pts.empty())
          o += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" + dash + "/>\n";
        pts.clear();
      };
      for (size_t i = 0; i < s.y.size(); ++i) {
        if (!std::isfinite(s.y[i])) {
          flush();
          continue;
        }
        pts += (pts.empty() ? "" : " ") + num(mx(x_of(s, i))) + "," + num(my(s.y[i]));
      }
      flush();
    }
    for (size_t i = 0; i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      const double x = mx(x_of(s, i)) + shift, y = my(s.y[i]);
      if (s.kind == SeriesKind::Bars) {
        const double base = my(std::clamp(0.0, y0, y1));
        o += "<rect x=\"" + num(x - bar_w / 2) + "\" y=\"" + num(std::min(y, base)) + "\" width=\"" + num(bar_w) +
             "\" height=\"" + num(std::fabs(base - y)) + "\" fill=\"" + color + "\"" + (s.dashed ? " fill-opacity=\"0.4\"" : "") +
             "/>\n";
      }
      if (has_markers(s.kind)) o += marker(s.marker, x, y, color);
      const double lo = s.lo.empty() ? NAN : s.lo[i], hi = s.hi.empty() ? NAN : s.hi[i];
      if (std::isfinite(lo) && std::isfinite(hi)) {
        const double a = my(lo), b = my(hi), cap = 4;
        o += "<path d=\"M" + num(x) + " " + num(a) + "V" + num(b) + "M" + num(x - cap) + " " + num(a) + "h" + num(2 * cap) + "M" +
             num(x - cap) + " " + num(b) + "h" + num(2 * cap) + "\" stroke=\"" + color +
             "\" stroke-width=\"1.5\" fill=\"none\"/>\n";
      }
    }
  }
  o += "</g>\n";

  // Legend: a sample of each series' line, marker or bar, then its name.
  size_t k = 0;
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& s = c.series[si];
    if (s.name.empty()) continue;
    const double ex = legend_right ? px1 + 16 : 10 + (k % legend_cols) * entry_w;
    const double ey = legend_right ? py1 + 8 + k * (kLegend + 8) : py0 + below_axis + 4 + (k / legend_cols) * (kLegend + 8);
    const double mid = ey + kLegend / 2;
    const std::string& color = colors[si];
    if (s.kind == SeriesKind::Bars)
      o += "<rect x=\"" + num(ex) + "\" y=\"" + num(ey + 1) + "\" width=\"22\" height=\"" + num(kLegend - 2) + "\" fill=\"" +
           color + "\"" + (s.dashed ? " fill-opacity=\"0.4\"" : "") + "/>\n";
    if (has_line(s.kind))
      o += "<line x1=\"" + num(ex) + "\" y1=\"" + num(mid) + "\" x2=\"" + num(ex + 22) + "\" y2=\"" + num(mid) + "\" stroke=\"" +
           color + "\" stroke-width=\"2\"" + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
    if (has_markers(s.kind)) o += marker(s.marker, ex + 11, mid, color);
    o += text(ex + 28, mid + kLegend * 0.35, s.name, kLegend, "start");
    ++k;
  }
  for (size_t i = 0; i < caption.size(); ++i)
    o += text(10, c.height + 6 + (i + 1) * (kCaption + 5) - 4, caption[i], kCaption, "start",
              " font-style=\"italic\" fill=\"#333\"");
  o += "</svg>\n";
  return o;
}

}  // namespace cvg::plot
