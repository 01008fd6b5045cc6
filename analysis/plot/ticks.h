// Axis ticks and the data -> pixel mapping that every chart and colour bar of the report shares.
#pragma once
#include <string>
#include <vector>

namespace cvg::plot {

// Tick values at a "nice" step (1, 2 or 5 x 10^k) and how to print them.
struct Ticks {
  double step = 1;                  // the distance between ticks (log axes: 0)
  std::vector<double> values;       // ascending
  std::vector<std::string> labels;  // one per value, with as many decimals as the step needs
};

// The smallest 1-2-5 step that puts at most `max_ticks` ticks on [lo, hi], and the ticks inside it
// (both ends included when they fall on the step). lo > hi is swapped; lo == hi gives that one value.
Ticks nice_ticks(double lo, double hi, int max_ticks = 6);
// [lo, hi] widened outwards to whole steps of nice_ticks (for an axis that fits its data).
void nice_range(double& lo, double& hi, int max_ticks = 6);
// Ticks of a log axis over [lo, hi] (both > 0): the powers of ten inside it, with 2x and 5x between
// them when the range spans fewer than three decades; at least the two ends when no power falls inside.
Ticks log_ticks(double lo, double hi);
// A value printed with `decimals` digits after the point (< 0: %g), without "-0".
std::string format_number(double v, int decimals);

// Data -> pixel along one axis: d0 maps to p0 and d1 to p1 (p1 < p0 for a y axis, whose pixels grow
// downwards); log: the mapping is linear in log10 (d0, d1 > 0).
struct AxisMap {
  double d0 = 0, d1 = 1, p0 = 0, p1 = 1;
  bool log = false;
  double operator()(double v) const;
};

}  // namespace cvg::plot
