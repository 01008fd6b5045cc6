// The per-thread bodies of the CUDA max-pooling kernels, host+device so that the tests can run
// the GPU's exact code path on the CPU (index math included) on machines without a GPU.
#pragma once
#include "kernels/pool.h"

#if defined(__CUDA_ARCH__)
#define CVG_POOL_LDG(p) __ldg(p)
#else
#define CVG_POOL_LDG(p) (*(p))
#endif

namespace cvg::pool_core {

// Output i (flattened over planes, rows, columns): its window's first maximum in row-major
// order. The window is never empty (PoolGeom::check).
CVG_HD void forward_one(const PoolGeom& g, int oh_n, int ow_n, const float* x, size_t i, float* y, int32_t* argmax) {
  const int ow = (int)(i % ow_n);
  const size_t t = i / ow_n;
  const int oh = (int)(t % oh_n);
  const float* xp = x + (t / oh_n) * g.h * g.w;
  const int hs = oh * g.stride - g.pad, ws = ow * g.stride - g.pad;
  const int h0 = hs > 0 ? hs : 0, h1 = hs + g.kernel < g.h ? hs + g.kernel : g.h;
  const int w0 = ws > 0 ? ws : 0, w1 = ws + g.kernel < g.w ? ws + g.kernel : g.w;
  int best_i = h0 * g.w + w0;
  float best = CVG_POOL_LDG(xp + best_i);
  for (int ih = h0; ih < h1; ++ih)
    for (int iw = w0; iw < w1; ++iw) {
      const float v = CVG_POOL_LDG(xp + ih * g.w + iw);
      if (v > best) best = v, best_i = ih * g.w + iw;
    }
  y[i] = best;
  argmax[i] = best_i;
}

// Pooled positions [lo, hi) along one axis whose windows cover input position `in`:
// o * stride - pad <= in < o * stride - pad + kernel. Empty (lo >= hi) when none does.
CVG_HD void covering(int in, int kernel, int stride, int pad, int out_n, int& lo, int& hi) {
  lo = in + pad < kernel ? 0 : (in + pad - kernel) / stride + 1;
  hi = (in + pad) / stride + 1;
  if (hi > out_n) hi = out_n;
}

// Input i's gradient as a gather: the sum of dy over the covering windows whose switch is i, in
// row-major window order (the order in which the CPU twin's scatter adds them).
CVG_HD float backward_one(const PoolGeom& g, int oh_n, int ow_n, const float* dy, const int32_t* argmax, size_t i) {
  const int iw = (int)(i % g.w);
  const size_t t = i / g.w;
  const int ih = (int)(t % g.h);
  int ph0, ph1, pw0, pw1;
  covering(ih, g.kernel, g.stride, g.pad, oh_n, ph0, ph1);
  covering(iw, g.kernel, g.stride, g.pad, ow_n, pw0, pw1);
  const int32_t self = ih * g.w + iw;
  const size_t base = (t / g.h) * oh_n * ow_n;
  float sum = 0.0f;
  for (int oh = ph0; oh < ph1; ++oh)
    for (int ow = pw0; ow < pw1; ++ow) {
      const size_t o = base + (size_t)oh * ow_n + ow;
      if (CVG_POOL_LDG(argmax + o) == self) sum += CVG_POOL_LDG(dy + o);
    }
  return sum;
}

}  // namespace cvg::pool_core
