// Max pooling, CPU twin. Forward: eight planes per OpenMP task, one per SIMD lane; backward: one
// (image, channel) plane per task. Everything is in-plane.
#include <algorithm>
#include <vector>

#include "kernels/pool.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace cvg::cpu {
namespace {
constexpr int kLanes = 8;  // planes per forward group: one AVX2 register of floats

// One window's first maximum (row-major order, strictly greater replaces) and its switch, for each
// of the kLanes planes of t ([input position][lane]); the window starts at (h0, w0) and spans
// KH x KW inputs when those are given (the loops unroll: Caffe's 3x3 inside the image), else kh x kw.
template <int KH = 0, int KW = 0>
void window_max(const float* t, int w, int h0, int w0, int kh, int kw, float* best, int32_t* at) {
  if (KH) kh = KH;
  if (KW) kw = KW;
  const int32_t first = h0 * w + w0;
#if defined(__AVX2__)
  __m256 b = _mm256_loadu_ps(t + (size_t)first * kLanes);
  __m256i a = _mm256_set1_epi32(first);
  for (int r = 0; r < kh; ++r)
    for (int c = 0; c < kw; ++c) {
      const int32_t i = first + r * w + c;
      const __m256 v = _mm256_loadu_ps(t + (size_t)i * kLanes);
      const __m256 more = _mm256_cmp_ps(v, b, _CMP_GT_OQ);  // false for NaN, as v > b
      a = _mm256_blendv_epi8(a, _mm256_set1_epi32(i), _mm256_castps_si256(more));
      b = _mm256_max_ps(v, b);  // v > b ? v : b, the same select (b where either is NaN)
    }
  _mm256_storeu_ps(best, b);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(at), a);
#else
  for (int l = 0; l < kLanes; ++l) best[l] = t[(size_t)first * kLanes + l], at[l] = first;
  for (int r = 0; r < kh; ++r)
    for (int c = 0; c < kw; ++c) {
      const int32_t i = first + r * w + c;
      for (int l = 0; l < kLanes; ++l) {
        const bool more = t[(size_t)i * kLanes + l] > best[l];
        best[l] = more ? t[(size_t)i * kLanes + l] : best[l];
        at[l] = more ? i : at[l];
      }
    }
#endif
}
}  // namespace

// Forward runs kLanes planes side by side, one per SIMD lane: the planes are first transposed into
// [input position][lane], so every window is the same loop for all lanes and each compare-select
// is one vector instruction, whatever the plane's size (the per-plane scan over alexnet-mini's
// 7x7 and 14x14 planes was all loop overhead). Each window is scanned in row-major order keeping
// the first maximum (strictly greater replaces), exactly the GPU kernel's rule.
void maxpool_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax) {
  g.check("maxpool_forward");
  const int oh_n = g.out_h(), ow_n = g.out_w();
  const int planes = g.n * g.c, in_plane = g.h * g.w, out_plane = oh_n * ow_n;
  // Clipped window bounds, never empty (PoolGeom::check).
  std::vector<int> w0(ow_n), w1(ow_n), h0(oh_n), h1(oh_n);
  for (int o = 0; o < ow_n; ++o) w0[o] = std::max(o * g.stride - g.pad, 0), w1[o] = std::min(o * g.stride - g.pad + g.kernel, g.w);
  for (int o = 0; o < oh_n; ++o) h0[o] = std::max(o * g.stride - g.pad, 0), h1[o] = std::min(o * g.stride - g.pad + g.kernel, g.h);
  const int groups = (planes + kLanes - 1) / kLanes;
#pragma omp parallel if ((size_t)planes * out_plane > (1 << 14))
  {
    std::vector<float> t((size_t)in_plane * kLanes);  // [input position][lane]
#pragma omp for schedule(dynamic, 4)
    for (int grp = 0; grp < groups; ++grp) {
      const int p0 = grp * kLanes, lanes = std::min(kLanes, planes - p0);
      const float* xl[kLanes];  // a short last group repeats its last plane in the spare lanes
      for (int l = 0; l < kLanes; ++l) xl[l] = x + (size_t)(p0 + std::min(l, lanes - 1)) * in_plane;
      for (int i = 0; i < in_plane; ++i)
        for (int l = 0; l < kLanes; ++l) t[(size_t)i * kLanes + l] = xl[l][i];
      for (int oh = 0; oh < oh_n; ++oh)
        for (int ow = 0; ow < ow_n; ++ow) {
          float best[kLanes];
          int32_t at[kLanes];
          const int kh = h1[oh] - h0[oh], kw = w1[ow] - w0[ow];
          if (kh == 3 && kw == 3)
            window_max<3, 3>(t.data(), g.w, h0[oh], w0[ow], kh, kw, best, at);
          else
            window_max(t.data(), g.w, h0[oh], w0[ow], kh, kw, best, at);
          const size_t o = (size_t)p0 * out_plane + oh * ow_n + ow;
          for (int l = 0; l < lanes; ++l) y[o + (size_t)l * out_plane] = best[l], argmax[o + (size_t)l * out_plane] = at[l];
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
