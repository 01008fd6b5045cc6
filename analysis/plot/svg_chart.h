// Line, marker, bar and scatter charts as standalone SVG (inline in HTML: no scripts, no external fonts,
// generic sans-serif text). One Chart holds its title, axis labels, a one-sentence caption and its series;
// the legend sits outside the plot area (right, or below when the chart is narrow).
#pragma once
#include <string>
#include <vector>

namespace cvg::plot {

enum class SeriesKind { Line, Markers, Bars, LineMarkers };
enum class MarkerShape { Circle, Square, Diamond, Triangle };

struct Series {
  std::string name;  // the legend entry ("" : no entry)
  SeriesKind kind = SeriesKind::LineMarkers;
  std::vector<double> x, y;    // x empty: 0, 1, 2... (a categorical axis' category indices); NaN y: a gap
  std::vector<double> lo, hi;  // optional error bars (e.g. a 95% interval), one per y; NaN: none there
  std::string color;           // any SVG colour ("#1f77b4"); "" : the next one of the palette
  bool dashed = false;         // for baselines: random matching, the untrained null
  MarkerShape marker = MarkerShape::Circle;
};

struct Chart {
  std::string title, x_label, y_label;
  std::string caption;                  // one sentence: what to look for (drawn under the chart)
  std::vector<std::string> categories;  // non-empty: a categorical x axis (layer names); series x = index
  bool log_x = false;                   // e.g. loss against the L1 penalty
  double y_min = 0, y_max = 0;          // y_min < y_max: a fixed y range; else fitted to the data
  double x_min = 0, x_max = 0;          // the same for a numeric x axis
  int width = 720, height = 400;        // pixels of the whole SVG (the caption may add lines below)
  std::vector<Series> series;
};

// The chart as one <svg> element. Throws std::invalid_argument for a series whose x, lo or hi
// length differs from y's, or for log_x with an x <= 0.
std::string render_svg(const Chart& chart);

// The fixed palette series colours come from, in order (colour-blind-safe; 8 entries, then repeated).
const std::string& palette_color(size_t i);
// Text for SVG/HTML: & < > " ' escaped, bytes that are not valid in XML 1.0 dropped.
std::string xml_escape(const std::string& s);

}  // namespace cvg::plot
