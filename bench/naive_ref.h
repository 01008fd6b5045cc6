// The naive baselines of bin/bench_layers on the CPU: the textbook loops, single-threaded, no
// blocking, no BLAS. Each image is independent of the others (no reuse across the batch), so
// timing a subset of the batch and scaling by n / subset measures the full batch fairly.
// bench_layers also checks our CPU twin against these on the subset (a wrong shape in the bench
// would show as a mismatch).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/conv.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/rng.h"

namespace cvg::naive {

inline void conv_forward(const ConvGeom& g, const float* x, const float* w, float* y) {
  const int oh = g.out_h(), ow = g.out_w(), cg = g.c / g.groups, kg = g.k / g.groups;
  for (int n = 0; n < g.n; ++n)
    for (int k = 0; k < g.k; ++k) {
      const int grp = k / kg;
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          float s = 0;
          for (int c = 0; c < cg; ++c)
            for (int i = 0; i < g.kh; ++i)
              for (int j = 0; j < g.kw; ++j) {
                const int iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                s +=
                    x[(((size_t)n * g.c + grp * cg + c) * g.h + iy) * g.w + ix] * w[(((size_t)k * cg + c) * g.kh + i) * g.kw + j];
              }
          y[(((size_t)n * g.k + k) * oh + oy) * ow + ox] = s;
        }
    }
}

inline void conv_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  const int oh = g.out_h(), ow = g.out_w(), cg = g.c / g.groups, kg = g.k / g.groups;
  std::memset(dx, 0, g.x_size() * sizeof(float));
  for (int n = 0; n < g.n; ++n)
    for (int k = 0; k < g.k; ++k) {
      const int grp = k / kg;
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          const float d = dy[(((size_t)n * g.k + k) * oh + oy) * ow + ox];
          for (int c = 0; c < cg; ++c)
            for (int i = 0; i < g.kh; ++i)
              for (int j = 0; j < g.kw; ++j) {
                const int iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                dx[(((size_t)n * g.c + grp * cg + c) * g.h + iy) * g.w + ix] +=
                    d * w[(((size_t)k * cg + c) * g.kh + i) * g.kw + j];
              }
        }
    }
}

inline void conv_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  const int oh = g.out_h(), ow = g.out_w(), cg = g.c / g.groups, kg = g.k / g.groups;
  std::memset(dw, 0, g.w_size() * sizeof(float));
  for (int n = 0; n < g.n; ++n)
    for (int k = 0; k < g.k; ++k) {
      const int grp = k / kg;
      for (int c = 0; c < cg; ++c)
        for (int i = 0; i < g.kh; ++i)
          for (int j = 0; j < g.kw; ++j) {
            float s = 0;
            for (int oy = 0; oy < oh; ++oy)
              for (int ox = 0; ox < ow; ++ox) {
                const int iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                s +=
                    x[(((size_t)n * g.c + grp * cg + c) * g.h + iy) * g.w + ix] * dy[(((size_t)n * g.k + k) * oh + oy) * ow + ox];
              }
            dw[(((size_t)k * cg + c) * g.kh + i) * g.kw + j] += s;
          }
    }
}

// y[n, out] = x[n, in] w[out, in]^T
inline void fc_forward(int n, int in, int out, const float* x, const float* w, float* y) {
  for (int s = 0; s < n; ++s)
    for (int o = 0; o < out; ++o) {
      float a = 0;
      for (int i = 0; i < in; ++i) a += x[(size_t)s * in + i] * w[(size_t)o * in + i];
      y[(size_t)s * out + o] = a;
    }
}
// dx[n, in] = dy[n, out] w[out, in]
inline void fc_backward_data(int n, int in, int out, const float* dy, const float* w, float* dx) {
  for (int s = 0; s < n; ++s)
    for (int i = 0; i < in; ++i) {
      float a = 0;
      for (int o = 0; o < out; ++o) a += dy[(size_t)s * out + o] * w[(size_t)o * in + i];
      dx[(size_t)s * in + i] = a;
    }
}
// dw[out, in] = sum over samples of dy[s, out] x[s, in]  (accumulated sample by sample)
inline void fc_backward_weights(int n, int in, int out, const float* x, const float* dy, float* dw) {
  std::memset(dw, 0, (size_t)out * in * sizeof(float));
  for (int s = 0; s < n; ++s)
    for (int o = 0; o < out; ++o) {
      const float d = dy[(size_t)s * out + o];
      for (int i = 0; i < in; ++i) dw[(size_t)o * in + i] += d * x[(size_t)s * in + i];
    }
}

inline void maxpool_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  const int oh = g.out_h(), ow = g.out_w();
  for (int p = 0; p < g.n * g.c; ++p)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        float best = -INFINITY;
        int best_i = -1;
        for (int i = 0; i < g.kernel; ++i)
          for (int j = 0; j < g.kernel; ++j) {
            const int iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            const float v = x[(size_t)p * g.h * g.w + iy * g.w + ix];
            if (best_i < 0 || v > best) best = v, best_i = iy * g.w + ix;
          }
        y[((size_t)p * oh + oy) * ow + ox] = best_i < 0 ? 0.0f : best;
        argmax[((size_t)p * oh + oy) * ow + ox] = best_i;
      }
}

inline void maxpool_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) {
  const size_t plane_in = (size_t)g.h * g.w, plane_out = (size_t)g.out_h() * g.out_w();
  std::memset(dx, 0, g.x_size() * sizeof(float));
  for (size_t p = 0; p < (size_t)g.n * g.c; ++p)
    for (size_t o = 0; o < plane_out; ++o)
      if (argmax[p * plane_out + o] >= 0) dx[p * plane_in + argmax[p * plane_out + o]] += dy[p * plane_out + o];
}

// Caffe's LRN straight from the formula: every channel sums its whole window again.
inline void lrn_forward(const LrnGeom& g, const float* x, float* y, float* scale) {
  const int pre = (g.size - 1) / 2, post = g.size - 1 - pre;
  const size_t hw = (size_t)g.h * g.w;
  for (int n = 0; n < g.n; ++n)
    for (int c = 0; c < g.c; ++c)
      for (size_t p = 0; p < hw; ++p) {
        float s = 0;
        for (int j = std::max(0, c - pre); j <= std::min(g.c - 1, c + post); ++j) {
          const float v = x[((size_t)n * g.c + j) * hw + p];
          s += v * v;
        }
        const size_t i = ((size_t)n * g.c + c) * hw + p;
        scale[i] = g.k + g.alpha / g.size * s;
        y[i] = x[i] * std::pow(scale[i], -g.beta);
      }
}

inline void lrn_backward(const LrnGeom& g, const float* x, const float* y, const float* scale, const float* dy, float* dx) {
  const int pre = (g.size - 1) / 2, post = g.size - 1 - pre;
  const size_t hw = (size_t)g.h * g.w;
  for (int n = 0; n < g.n; ++n)
    for (int c = 0; c < g.c; ++c)
      for (size_t p = 0; p < hw; ++p) {
        float acc = 0;  // over j whose window holds c: j in [c - post, c + pre]
        for (int j = std::max(0, c - post); j <= std::min(g.c - 1, c + pre); ++j) {
          const size_t k = ((size_t)n * g.c + j) * hw + p;
          acc += dy[k] * y[k] / scale[k];
        }
        const size_t i = ((size_t)n * g.c + c) * hw + p;
        dx[i] = dy[i] * std::pow(scale[i], -g.beta) - 2 * g.alpha * g.beta / g.size * x[i] * acc;
      }
}

inline void relu_forward(size_t n, const float* x, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0;
}
inline void relu_backward(size_t n, const float* y, const float* dy, float* dx) {
  for (size_t i = 0; i < n; ++i) dx[i] = y[i] > 0 ? dy[i] : 0;
}
inline void dropout_forward(size_t n, float p, uint64_t seed, uint64_t stream, const float* x, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = rng_keep(seed, stream, i, p) ? x[i] / (1 - p) : 0;
}
inline void dropout_backward(size_t n, float p, uint64_t seed, uint64_t stream, const float* dy, float* dx) {
  for (size_t i = 0; i < n; ++i) dx[i] = rng_keep(seed, stream, i, p) ? dy[i] / (1 - p) : 0;
}
inline void sgd_update(size_t n, float* w, float* v, const float* g, float lr, float momentum, float wd) {
  for (size_t i = 0; i < n; ++i) {
    v[i] = momentum * v[i] + lr * (g[i] + wd * w[i]);
    w[i] -= v[i];
  }
}

}  // namespace cvg::naive
