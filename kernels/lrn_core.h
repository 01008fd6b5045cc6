// The per-column bodies of the CUDA LRN kernels, host+device so that the tests can run the GPU's
// exact code path on the CPU. A column is one (n, h, w) position; its channels are `hw` apart.
// Same arithmetic, in the same order, as the CPU twin (lrn_cpu.cpp): double running sums of
// exact terms, one explicit fma for scale, neg_pow for the power.
#pragma once
#include <math.h>

#include "kernels/lrn.h"

#if defined(__CUDA_ARCH__)
#define CVG_LRN_LDG(p) __ldg(p)
#else
#define CVG_LRN_LDG(p) (*(p))
#endif

namespace cvg::lrn_core {

CVG_HD double square(float v) { return (double)v * v; }  // exact in double

// s^-0.75 = 1 / (sqrt(s) sqrt(sqrt(s))), in double and rounded once to float: a few times cheaper
// than powf and it vectorises; sqrt and division are correctly rounded on every CPU and GPU, so
// the devices agree bit for bit (powf's last bit is the library's). 0 -> inf, inf -> 0, NaN and
// negative -> NaN, as powf.
CVG_HD float pow_minus_075(float s) {
  const double r = sqrt((double)s);
  return (float)(1.0 / (r * sqrt(r)));
}

// s^-beta: Caffe's beta 0.75 (every net here) by square roots, any other by powf.
CVG_HD float neg_pow(float s, float beta) { return beta == 0.75f ? pow_minus_075(s) : powf(s, -beta); }

// Channel i's window is [i - pre, i + post], pre = (size-1)/2, post = size-1-pre.
CVG_HD void forward_column(const LrnGeom& g, size_t hw, const float* x, float* y, float* scale) {
  const int C = g.c, pre = (g.size - 1) / 2, post = g.size - 1 - pre;
  const double coeff = (double)g.alpha / g.size;
  double acc = 0.0;
  for (int j = 0; j < post && j < C; ++j) acc += square(CVG_LRN_LDG(x + j * hw));
  for (int ch = 0; ch < C; ++ch) {
    const int head = ch + post, tail = ch - pre - 1;
    if (head < C) acc += square(CVG_LRN_LDG(x + head * hw));
    if (tail >= 0) acc -= square(CVG_LRN_LDG(x + tail * hw));
    const float s = (float)fma(coeff, acc < 0.0 ? 0.0 : acc, (double)g.k);
    scale[ch * hw] = s;
    y[ch * hw] = CVG_LRN_LDG(x + ch * hw) * neg_pow(s, g.beta);
  }
}

CVG_HD double ratio(const float* dy, const float* y, const float* scale, size_t i) {
  return (double)CVG_LRN_LDG(dy + i) * (double)CVG_LRN_LDG(y + i) / (double)CVG_LRN_LDG(scale + i);
}

// Backward sums dy_j y_j / scale_j over {j : i in window(j)} = [i - post, i + pre].
CVG_HD void backward_column(const LrnGeom& g, size_t hw, const float* x, const float* y, const float* scale, const float* dy,
                            float* dx) {
  const int C = g.c, pre = (g.size - 1) / 2, post = g.size - 1 - pre;
  const double coeff = 2.0 * g.alpha * g.beta / g.size;
  double acc = 0.0;
  for (int j = 0; j < pre && j < C; ++j) acc += ratio(dy, y, scale, j * hw);
  for (int ch = 0; ch < C; ++ch) {
    const int head = ch + pre, tail = ch - post - 1;
    if (head < C) acc += ratio(dy, y, scale, head * hw);
    if (tail >= 0) acc -= ratio(dy, y, scale, tail * hw);
    const size_t i = ch * hw;
    const float pw = neg_pow(CVG_LRN_LDG(scale + i), g.beta);
    dx[i] = (float)fma((double)CVG_LRN_LDG(dy + i), (double)pw, -coeff * (double)CVG_LRN_LDG(x + i) * acc);
  }
}

}  // namespace cvg::lrn_core
