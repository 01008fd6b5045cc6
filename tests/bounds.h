// Rounding-error bounds for tests of dot-product kernels (conv, gemm, fc).
// A float32 sum of N products, in ANY order and with or without FMA, differs from the exact value by
// at most gamma(N) * sum |a_i||b_i| (Higham, Accuracy and Stability of Numerical Algorithms, 3.1),
// with gamma(N) = N u / (1 - N u), u = 2^-24. So "float result vs exact double" may differ by
// gamma(N) * absref, and "GPU vs CPU" by twice that, where absref is the same sum taken over absolute
// values. The bound cannot fail on correct code, and it still catches indexing bugs: one wrong or
// missing term moves the result by about one term, ~absref/N, far above gamma(N)*absref ~ N u absref.
#pragma once
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace cvg::test {

inline double gamma_n(double n) {
  const double u = std::ldexp(1.0, -24);
  return n * u / (1.0 - n * u);
}

// max_i |got_i - want_i| / (factor * absref_i + atol): <= 1 means within the bound.
template <class G, class W, class R>
double bound_ratio(const G& got, const W& want, const R& absref, double factor, double atol, size_t* worst_at = nullptr) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double e = std::fabs((double)got[i] - (double)want[i]) / (factor * std::fabs((double)absref[i]) + atol);
    if (!(e <= worst)) {
      worst = std::isnan(e) ? INFINITY : e;
      if (worst_at) *worst_at = i;
    }
  }
  return worst;
}

// CHECKs got ~= want within factor * absref + atol elementwise; returns the worst normalised error.
template <class G, class W, class R>
double check_bound(const std::string& what, const G& got, const W& want, const R& absref, double factor, double atol = 1e-30) {
  REQUIRE(got.size() == want.size());
  REQUIRE(absref.size() == want.size());
  size_t at = 0;
  double worst = bound_ratio(got, want, absref, factor, atol, &at);
  INFO(what, ": worst normalised error ", worst, " at ", at, ": got ", (double)got[at], ", want ", (double)want[at], ", bound ",
       factor * std::fabs((double)absref[at]) + atol);
  CHECK(worst <= 1.0);
  return worst;
}

template <class V>
std::vector<float> abs_of(const V& v) {
  std::vector<float> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs((float)v[i]);
  return a;
}

}  // namespace cvg::test
