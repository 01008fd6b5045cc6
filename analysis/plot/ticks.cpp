#include "analysis/plot/ticks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cvg::plot {

namespace {
// A 1-2-5 step as mantissa x 10^exponent: tick i is (i * mantissa) scaled by the power of ten, computed
// by one division or multiplication of exact integers so that 0.6 prints and compares as 0.6.
struct Step {
  int mantissa = 1, exponent = 0;
  double value() const { return exponent >= 0 ? mantissa * std::pow(10.0, exponent) : mantissa / std::pow(10.0, -exponent); }
  double at(long long i) const {
    const double k = (double)(i * mantissa);
    return exponent >= 0 ? k * std::pow(10.0, exponent) : k / std::pow(10.0, -exponent);
  }
  int decimals() const { return std::max(0, -exponent); }
};

long long first_index(double lo, const Step& s) { return (long long)std::ceil(lo / s.value() - 1e-9); }
long long last_index(double hi, const Step& s) { return (long long)std::floor(hi / s.value() + 1e-9); }

// The smallest step with at most max_ticks ticks inside [lo, hi] (outward: covering it when `outer`).
Step choose_step(double lo, double hi, int max_ticks, bool outer) {
  const double span = hi - lo;
  int e = (int)std::floor(std::log10(span / std::max(1, max_ticks))) - 1;
  for (;; ++e)
    for (int m : {1, 2, 5}) {
      const Step s{m, e};
      long long a = first_index(lo, s), b = last_index(hi, s);
      if (outer) a = (long long)std::floor(lo / s.value() + 1e-9), b = (long long)std::ceil(hi / s.value() - 1e-9);
      if (b - a + 1 <= std::max(2, max_ticks)) return s;
    }
}
}  // namespace

std::string format_number(double v, int decimals) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  if (decimals < 0 || std::fabs(v) >= 1e7) {
    std::snprintf(buf, sizeof buf, "%g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // "-0.00" -> "0.00"
  return s;
}

Ticks nice_ticks(double lo, double hi, int max_ticks) {
  if (lo > hi) std::swap(lo, hi);
  Ticks t;
  if (!std::isfinite(lo) || !std::isfinite(hi)) return t;
  if (hi - lo <= 0) {
    t.values = {lo};
    t.labels = {format_number(lo, 6)};
    t.step = 0;
    return t;
  }
  const Step s = choose_step(lo, hi, max_ticks, false);
  t.step = s.value();
  for (long long i = first_index(lo, s); i <= last_index(hi, s); ++i) {
    t.values.push_back(s.at(i));
    t.labels.push_back(format_number(s.at(i), s.decimals()));
  }
  return t;
}

void nice_range(double& lo, double& hi, int max_ticks) {
  if (lo > hi) std::swap(lo, hi);
  if (!std::isfinite(lo) || !std::isfinite(hi)) return;
  if (hi - lo <= 0) {  // one value: a unit-wide range around it
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad, hi += pad;
  }
  const Step s = choose_step(lo, hi, max_ticks, true);
  lo = s.at((long long)std::floor(lo / s.value() + 1e-9));
  hi = s.at((long long)std::ceil(hi / s.value() - 1e-9));
}

Ticks log_ticks(double lo, double hi) {
  if (lo > hi) std::swap(lo, hi);
  Ticks t;
  if (!(lo > 0) || !std::isfinite(hi)) return t;
  const int e0 = (int)std::floor(std::log10(lo) + 1e-9), e1 = (int)std::ceil(std::log10(hi) - 1e-9);
  const bool few = e1 - e0 < 3;
  for (int e = e0; e <= e1; ++e)
    for (int m : {1, 2, 5}) {
      if (m != 1 && !few) continue;
      const Step s{m, e};
      const double v = s.at(1);
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      t.values.push_back(v);
      t.labels.push_back(std::fabs(e) >= 5 ? format_number(v, -1) : format_number(v, s.decimals()));
    }
  if (t.values.empty()) {
    for (double v : {lo, hi}) t.values.push_back(v), t.labels.push_back(format_number(v, -1));
  }
  return t;
}

double AxisMap::operator()(double v) const {
  const double a = log ? std::log10(d0) : d0, b = log ? std::log10(d1) : d1, x = log ? std::log10(v) : v;
  if (b == a) return (p0 + p1) / 2;
  return p0 + (x - a) / (b - a) * (p1 - p0);
}

}  // namespace cvg::plot
