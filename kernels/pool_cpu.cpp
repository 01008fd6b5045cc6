// Max pooling, CPU twin. One (image, channel) plane per OpenMP task; everything is in-plane.
#include <algorithm>
#include <vector>

#include "kernels/pool.h"
#include "kernels/pool_core.h"

namespace cvg::cpu {

// Forward is separable: first each input row's window maxima (the first maximum of each row
// segment), then down each output column over the window's rows, keeping a row only when it is
// strictly greater. That is exactly the row-major first maximum of the 2-D window (the earliest
// row holding the maximum, and in it the earliest column), without a data-dependent branch: the
// selects vectorise, where a scan over each 3x3 window mispredicted about every other compare.
void maxpool_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  const int oh_n = g.out_h(), ow_n = g.out_w();
  const int planes = g.n * g.c;
  // Clipped window bounds; an empty window (only in geometries Caffe rejects) sends every plane to
  // the per-output path that the GPU kernel runs.
  std::vector<int> w0(ow_n), w1(ow_n), h0(oh_n), h1(oh_n);
  bool empty = false;
  for (int o = 0; o < ow_n; ++o) {
    w0[o] = std::max(o * g.stride - g.pad, 0), w1[o] = std::min(o * g.stride - g.pad + g.kernel, g.w);
    empty |= w0[o] >= w1[o];
  }
  for (int o = 0; o < oh_n; ++o) {
    h0[o] = std::max(o * g.stride - g.pad, 0), h1[o] = std::min(o * g.stride - g.pad + g.kernel, g.h);
    empty |= h0[o] >= h1[o];
  }
#pragma omp parallel if (planes * oh_n * ow_n > (1 << 14))
  {
    std::vector<float> rmax((size_t)g.h * ow_n);  // [input row][output column]
    std::vector<int32_t> rarg((size_t)g.h * ow_n);
#pragma omp for schedule(dynamic, 32)
    for (int p = 0; p < planes; ++p) {
      const float* xp = x + (size_t)p * g.h * g.w;
      float* yp = y + (size_t)p * oh_n * ow_n;
      int32_t* ap = argmax + (size_t)p * oh_n * ow_n;
      if (empty) {
        for (size_t i = 0; i < (size_t)oh_n * ow_n; ++i) pool_core::forward_one(g, oh_n, ow_n, xp, i, yp, ap);
        continue;
      }
      for (int ih = 0; ih < g.h; ++ih) {
        const float* xr = xp + (size_t)ih * g.w;
        float* mr = rmax.data() + (size_t)ih * ow_n;
        int32_t* ar = rarg.data() + (size_t)ih * ow_n;
        for (int o = 0; o < ow_n; ++o) {
          float best = xr[w0[o]];
          int32_t at = w0[o];
          for (int iw = w0[o] + 1; iw < w1[o]; ++iw) {
            const bool more = xr[iw] > best;
            best = more ? xr[iw] : best;
            at = more ? iw : at;
          }
          mr[o] = best, ar[o] = ih * g.w + at;
        }
      }
      for (int oh = 0; oh < oh_n; ++oh) {
        float* yr = yp + (size_t)oh * ow_n;
        int32_t* ar = ap + (size_t)oh * ow_n;
        std::copy_n(rmax.data() + (size_t)h0[oh] * ow_n, ow_n, yr);
        std::copy_n(rarg.data() + (size_t)h0[oh] * ow_n, ow_n, ar);
        for (int ih = h0[oh] + 1; ih < h1[oh]; ++ih) {
          const float* mr = rmax.data() + (size_t)ih * ow_n;
          const int32_t* rr = rarg.data() + (size_t)ih * ow_n;
#pragma omp simd
          for (int o = 0; o < ow_n; ++o) {
            const bool more = mr[o] > yr[o];
            yr[o] = more ? mr[o] : yr[o];
            ar[o] = more ? rr[o] : ar[o];
          }
        }
      }
    }
  }
}

void maxpool_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) {
  const int out_plane = g.out_h() * g.out_w(), in_plane = g.h * g.w;
  const int planes = g.n * g.c;
#pragma omp parallel for schedule(dynamic, 32) if ((size_t)planes * in_plane > (1 << 14))
  for (int p = 0; p < planes; ++p) {
    float* dxp = dx + (size_t)p * in_plane;
    const float* dyp = dy + (size_t)p * out_plane;
    const int32_t* ap = argmax + (size_t)p * out_plane;
    std::fill(dxp, dxp + in_plane, 0.0f);
    // Outputs in ascending order: each input sums its windows' gradients in row-major window
    // order, the order the GPU's gather uses, so both devices round identically.
    for (int o = 0; o < out_plane; ++o)
      if (ap[o] >= 0) dxp[ap[o]] += dyp[o];
  }
}

}  // namespace cvg::cpu
