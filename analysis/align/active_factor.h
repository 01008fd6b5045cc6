// The Newton steps of the Lasso (lasso.cpp): a Cholesky factor of the Gram matrix restricted to the
// active sources, kept up to date as sources leave.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
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

  // Row by row (contiguous; each entry sees the same operations in the same order as column by
  // column would, since row q only needs the rotations of the columns before it), squeezing out
  // row and column a in place as it goes (the new stride m_ - 1 never overtakes the old m_).
  void remove(int a) {
    const int t = m_ - 1 - a;  // rows and columns after a
    rot_cos_.resize(t), rot_sin_.resize(t);
    const int stride = m_ - 1;
    for (int i = 0; i < m_; ++i) {
      if (i == a) continue;
      const int ni = i < a ? i : i - 1;
      double* dst = &L_[(size_t)ni * stride];
      const double* src = &L_[(size_t)i * m_];
      if (i < a) {
        std::memmove(dst, src, sizeof(double) * (i + 1));  // above a nothing changes (dst <= src)
        continue;
      }
      const int q = i - a - 1;
      double v = src[a];
      std::memmove(dst, src, sizeof(double) * a);
      double* row = dst + a;  // new columns a.. = old columns a+1..
      for (int k = 0; k < q; ++k) {  // the rotations of the columns before, in order
        const double x = (src[a + 1 + k] + rot_sin_[k] * v) / rot_cos_[k];
        v = rot_cos_[k] * v - rot_sin_[k] * x;
        row[k] = x;
      }
      const double lkk = src[a + 1 + q], r = std::hypot(lkk, v);
      rot_cos_[q] = r / lkk, rot_sin_[q] = v / lkk;
      row[q] = r;
    }
    L_.resize((size_t)stride * stride);
    for (int i = 0; i < stride; ++i)  // the upper triangle stays 0 (entries past the diagonal)
      std::fill(&L_[(size_t)i * stride + i + 1], &L_[(size_t)i * stride] + stride, 0.0);
    act_.erase(act_.begin() + a);
    --m_;
  }

  std::vector<int> act_;
  std::vector<double> L_;
  std::vector<double> rot_cos_, rot_sin_;  // remove()'s rotations
  int m_ = 0;
};

}  // namespace cvg
