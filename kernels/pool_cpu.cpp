// Max pooling, CPU twin. One (image, channel) plane per OpenMP task; everything is in-plane.
#include <algorithm>

#include "kernels/pool.h"

namespace cvg::cpu {

void maxpool_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  const int oh_n = g.out_h(), ow_n = g.out_w();
  const int planes = g.n * g.c;
#pragma omp parallel for schedule(static) if (planes * oh_n * ow_n > (1 << 14))
  for (int p = 0; p < planes; ++p) {
    const float* xp = x + (size_t)p * g.h * g.w;
    float* yp = y + (size_t)p * oh_n * ow_n;
    int32_t* ap = argmax + (size_t)p * oh_n * ow_n;
    for (int oh = 0; oh < oh_n; ++oh) {
      const int h0 = std::max(oh * g.stride - g.pad, 0), h1 = std::min(oh * g.stride - g.pad + g.kernel, g.h);
      for (int ow = 0; ow < ow_n; ++ow) {
        const int w0 = std::max(ow * g.stride - g.pad, 0), w1 = std::min(ow * g.stride - g.pad + g.kernel, g.w);
        // A window can be empty only for geometries Caffe rejects (stride > kernel without pad,
        // pad >= kernel): output 0 with switch -1, which backward ignores.
        if (h0 >= h1 || w0 >= w1) {
          yp[oh * ow_n + ow] = 0.0f;
          ap[oh * ow_n + ow] = -1;
          continue;
        }
        // Row-major scan, strict '>': the first maximum wins (the GPU uses the same rule).
        int best_i = h0 * g.w + w0;
        float best = xp[best_i];
        for (int ih = h0; ih < h1; ++ih)
          for (int iw = w0; iw < w1; ++iw)
            if (xp[ih * g.w + iw] > best) best = xp[ih * g.w + iw], best_i = ih * g.w + iw;
        yp[oh * ow_n + ow] = best;
        ap[oh * ow_n + ow] = best_i;
      }
    }
  }
}

void maxpool_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx) {
  const int out_plane = g.out_h() * g.out_w(), in_plane = g.h * g.w;
  const int planes = g.n * g.c;
#pragma omp parallel for schedule(static) if ((size_t)planes * in_plane > (1 << 14))
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
