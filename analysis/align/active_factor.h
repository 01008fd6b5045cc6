// The Newton steps of the Lasso (lasso.cpp): a Cholesky factor of the Gram matrix restricted to the
// active sources, kept up to date as sources leave.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace cvg {

// The Cholesky factor L L^T = G_AA of the Gram matrix on an active set A (row-major, lower
// triangle). Newton steps only ever remove sources from A, and removing one costs O(m^2) through a
// rank-one update of the trailing block, instead of O(m^3) for a fresh factor.
class ActiveFactor {
 public:
  // False when G_AA is numerically singular: a pivot not clearly positive (the active sources are
  // (nearly) linearly dependent), or A empty.
  bool factor(const double* G, int n, const double* w) {
    act_.clear();
    for (int j = 0; j < n; ++j)
      if (w[j] != 0) act_.push_back(j);
    m_ = (int)act_.size();
    if (m_ == 0) return false;
    L_.assign((size_t)m_ * m_, 0.0);
    double top = 0;
    for (int a = 0; a < m_; ++a) {
      for (int b = 0; b <= a; ++b) at(a, b) = G[(size_t)act_[a] * n + act_[b]];
      top = std::max(top, at(a, a));
    }
    for (int j = 0; j < m_; ++j) {
      double d = at(j, j);
      const double* lj = &at(j, 0);
#pragma omp simd reduction(- : d)
      for (int k = 0; k < j; ++k) d -= lj[k] * lj[k];
      if (!(d > 1e-13 * top)) return false;
      const double l = std::sqrt(d);
      at(j, j) = l;
      for (int i = j + 1; i < m_; ++i) {
        double s = at(i, j);
        const double* li = &at(i, 0);
#pragma omp simd reduction(- : s)
        for (int k = 0; k < j; ++k) s -= li[k] * lj[k];
        at(i, j) = s / l;
      }
    }
    return true;
  }

  // Drops the sources whose weight is now 0. Deleting row and column a of G_AA leaves the rows
  // below a with the extra column v = L[a+1.., a]; the trailing block absorbs it as the rank-one
  // update L' L'^T = L L^T + v v^T (Givens-style), which keeps every pivot positive.
  void keep_nonzero(const double* w) {
    for (int a = m_ - 1; a >= 0; --a)
      if (w[act_[a]] == 0) remove(a);
  }

  // z = G_AA^{-1} b, in place (b indexed like active()).
  void solve(std::vector<double>& z) const {
    for (int a = 0; a < m_; ++a) {  // L y = b
      double s = z[a];
      for (int b = 0; b < a; ++b) s -= at(a, b) * z[b];
      z[a] = s / at(a, a);
    }
    for (int a = m_ - 1; a >= 0; --a) {  // L^T z = y
      double s = z[a];
      for (int b = a + 1; b < m_; ++b) s -= at(b, a) * z[b];
      z[a] = s / at(a, a);
    }
  }

  const std::vector<int>& active() const { return act_; }

 private:
  double& at(int i, int j) { return L_[(size_t)i * m_ + j]; }
  double at(int i, int j) const { return L_[(size_t)i * m_ + j]; }

  void remove(int a) {
    std::vector<double> v;
    for (int i = a + 1; i < m_; ++i) v.push_back(at(i, a));
    for (int k = 0; k < (int)v.size(); ++k) {  // update rows/columns a+1.. (indices k = i - a - 1)
      const int c = a + 1 + k;
      const double lkk = at(c, c), r = std::hypot(lkk, v[k]);
      const double cs = r / lkk, sn = v[k] / lkk;
      at(c, c) = r;
      for (int q = k + 1; q < (int)v.size(); ++q) {
        const int i = a + 1 + q;
        at(i, c) = (at(i, c) + sn * v[q]) / cs;
        v[q] = cs * v[q] - sn * at(i, c);
      }
    }
    // Squeeze out row a and column a (same stride m_ - 1 afterwards).
    std::vector<double> next((size_t)(m_ - 1) * (m_ - 1), 0.0);
    for (int i = 0, ni = 0; i < m_; ++i) {
      if (i == a) continue;
      for (int j = 0, nj = 0; j <= i; ++j) {
        if (j == a) continue;
        next[(size_t)ni * (m_ - 1) + nj++] = at(i, j);
      }
      ++ni;
    }
    L_.swap(next);
    act_.erase(act_.begin() + a);
    --m_;
  }

  std::vector<int> act_;
  std::vector<double> L_;
  int m_ = 0;
};

}  // namespace cvg
