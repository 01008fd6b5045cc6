// The one gradient checker (Caffe's GradientChecker idea): for every variable of an op (each input and
// each parameter) and every checked coordinate i, the central difference
//   fd_i = (L(v + h e_i) - L(v - h e_i)) / (the step actually taken)
// of a scalar loss L evaluated in double, against the op's analytic gradient. The step actually
// taken is (v_i + h) - (v_i - h) as stored, so a float variable's rounded step costs nothing.
// L may return NaN to say "this step crossed a kink" (a ReLU's zero, a max-pool switch): that
// coordinate is skipped, and only a small fraction may be.
//
// Bounds are the caller's, per variable, and must be justified there: |grad_i - fd_i| <=
// factor * absref_i + atol, with absref_i = |fd_i| when no reference is given. For a loss linear in
// the variable (conv, fc, ReLU and max pool away from kinks) the difference quotient is exact up to
// double rounding, so the float gradient's own rounding bound (tests/bounds.h) applies; for a
// smooth nonlinear loss the truncation error O(h^2 L''') adds to it.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tests/bounds.h"

namespace cvg::test {

template <class T>  // float or double: how the variable is stored (and perturbed)
struct GradVar {
  std::string name;
  std::vector<T>* value;    // perturbed in place, restored after each coordinate
  std::vector<float> grad;  // the analytic gradient dL/dvalue under test
  double step;              // h
  double factor = 0, atol = 0;
  std::vector<double> absref;  // per coordinate; empty: |fd|
};

struct GradCheckOptions {
  size_t coords_per_var = 0;  // 0: every coordinate; else about this many, evenly spread (last included)
  double max_skipped = 0.05;  // at most this fraction of the checked coordinates may sit on a kink
};

// CHECKs every variable within its bound; returns the worst normalised error over all of them.
template <class T>
double check_gradients(const std::function<double()>& loss, std::vector<GradVar<T>>& vars, const GradCheckOptions& opt = {}) {
  double worst_all = 0;
  for (GradVar<T>& v : vars) {
    std::vector<T>& p = *v.value;
    REQUIRE(v.grad.size() == p.size());
    REQUIRE((v.absref.empty() || v.absref.size() == p.size()));
    const size_t stride = opt.coords_per_var ? std::max<size_t>(1, p.size() / opt.coords_per_var) : 1;
    std::vector<double> got, fd, absref;
    size_t tried = 0, skipped = 0;
    for (size_t i = (p.size() - 1) % stride; i < p.size(); i += stride) {
      ++tried;
      const T keep = p[i], up = (T)(keep + v.step), down = (T)(keep - v.step);
      p[i] = up;
      const double lp = loss();
      p[i] = down;
      const double lm = loss();
      p[i] = keep;
      if (std::isnan(lp) || std::isnan(lm)) {
        ++skipped;
        continue;
      }
      const double d = (lp - lm) / ((double)up - (double)down);
      got.push_back(v.grad[i]), fd.push_back(d);
      absref.push_back(v.absref.empty() ? std::fabs(d) : v.absref[i]);
    }
    INFO("gradient of ", v.name, ": ", tried, " coordinates, ", skipped, " on a kink");
    CHECK(tried > 0);
    CHECK((double)skipped <= opt.max_skipped * (double)tried);
    worst_all = std::max(worst_all, check_bound("d/d" + v.name, got, fd, absref, v.factor, std::max(v.atol, 1e-30)));
  }
  return worst_all;
}

}  // namespace cvg::test
