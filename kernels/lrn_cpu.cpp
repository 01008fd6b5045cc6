// LRN across channels, CPU twin. Each (n, h, w) column walks its channels with a running window
// sum; columns are processed a block of contiguous pixels at a time so every channel step reads
// contiguous memory. The running sums are kept in double: the squares of floats are exact in
// double and both devices add and subtract them in the same order, so the sums (and scale) agree
// bit for bit with the GPU, and the add/subtract walk cannot drift.
//
// The window of channel i is [i - pre, i + post] with pre = (size-1)/2, post = size-1-pre
// (centred for odd size, Caffe's only case). Backward needs the transposed window
// {j : i in window(j)} = [i - post, i + pre].
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/lrn.h"
#include "kernels/lrn_core.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace cvg::cpu {
namespace {
constexpr int kBlock = 64;  // pixels per column block: 64 double sums on the stack

// pw[p] = s[p]^-beta (lrn_core::neg_pow), with the beta test out of the loop. The compiler keeps
// sqrt scalar (it must set errno for a negative input), so beta 0.75 takes the same two square
// roots and one division four doubles at a time; each is correctly rounded, so every element gets
// pow_minus_075's bits.
void neg_pows(int np, const float* s, float beta, float* pw) {
  int p = 0;
  if (beta == 0.75f) {
#if defined(__AVX2__)
    const __m256d one = _mm256_set1_pd(1.0);
    for (; p + 4 <= np; p += 4) {
      const __m256d r = _mm256_sqrt_pd(_mm256_cvtps_pd(_mm_loadu_ps(s + p)));
      _mm_storeu_ps(pw + p, _mm256_cvtpd_ps(_mm256_div_pd(one, _mm256_mul_pd(r, _mm256_sqrt_pd(r)))));
    }
#endif
    for (; p < np; ++p) pw[p] = lrn_core::pow_minus_075(s[p]);
  } else {
    for (; p < np; ++p) pw[p] = powf(s[p], -beta);
  }
}
}  // namespace

void lrn_forward(const LrnGeom& g, const float* x, float* y, float* scale) {
  const int C = g.c, pre = (g.size - 1) / 2, post = g.size - 1 - pre;
  const size_t hw = (size_t)g.h * g.w;
  const size_t nblk = (hw + kBlock - 1) / kBlock;
  const double coeff = (double)g.alpha / g.size;
#pragma omp parallel for schedule(dynamic, 16) if (g.x_size() > (1 << 14))
  for (size_t job = 0; job < (size_t)g.n * nblk; ++job) {
    const size_t img = job / nblk, p0 = (job % nblk) * kBlock;
    const int np = (int)std::min<size_t>(kBlock, hw - p0);
    const size_t base = img * C * hw + p0;
    const float* xb = x + base;
    double acc[kBlock] = {};
    for (int j = 0; j < post && j < C; ++j)
      for (int p = 0; p < np; ++p) acc[p] += (double)xb[j * hw + p] * xb[j * hw + p];
    for (int ch = 0; ch < C; ++ch) {
      const int head = ch + post, tail = ch - pre - 1;
      if (head < C)
        for (int p = 0; p < np; ++p) acc[p] += (double)xb[head * hw + p] * xb[head * hw + p];
      if (tail >= 0)
        for (int p = 0; p < np; ++p) acc[p] -= (double)xb[tail * hw + p] * xb[tail * hw + p];
      float* sc = scale + base + ch * hw;
      // Rounding can leave a tiny negative residue once large squares leave the window: clamp
      // it (NaN still propagates) so scale^-beta stays defined even with k = 0.
      for (int p = 0; p < np; ++p) sc[p] = (float)std::fma(coeff, acc[p] < 0.0 ? 0.0 : acc[p], (double)g.k);
      float pw[kBlock];
      neg_pows(np, sc, g.beta, pw);
      for (int p = 0; p < np; ++p) y[base + ch * hw + p] = x[base + ch * hw + p] * pw[p];
    }
  }
}

void lrn_backward(const LrnGeom& g, const float* x, const float* y, const float* scale, const float* dy, float* dx) {
  const int C = g.c, pre = (g.size - 1) / 2, post = g.size - 1 - pre;
  const size_t hw = (size_t)g.h * g.w;
  const size_t nblk = (hw + kBlock - 1) / kBlock;
  const double coeff = 2.0 * g.alpha * g.beta / g.size;
  // r_j = dy_j y_j / scale_j, in double from exact float products: identical on both devices.
  auto r = [&](size_t i) { return (double)dy[i] * (double)y[i] / (double)scale[i]; };
  // Each r_j enters the window sum at its head and leaves it size channels later: a ring of the
  // last size + 1 channels' r keeps it for its exit, so each is divided once.
  const int slots = g.size + 1;
#pragma omp parallel if (g.x_size() > (1 << 14))
  {
    std::vector<double> ring((size_t)slots * kBlock);
    // r of channel j, for the block's pixels, into its ring slot; returns the slot.
    auto enter = [&](size_t base, int np, int j) {
      double* rj = ring.data() + (size_t)(j % slots) * kBlock;
      for (int p = 0; p < np; ++p) rj[p] = r(base + j * hw + p);
      return rj;
    };
#pragma omp for schedule(dynamic, 16)
    for (size_t job = 0; job < (size_t)g.n * nblk; ++job) {
      const size_t img = job / nblk, p0 = (job % nblk) * kBlock;
      const int np = (int)std::min<size_t>(kBlock, hw - p0);
      const size_t base = img * C * hw + p0;
      double acc[kBlock] = {};
      for (int j = 0; j < pre && j < C; ++j) {
        const double* rj = enter(base, np, j);
        for (int p = 0; p < np; ++p) acc[p] += rj[p];
      }
      for (int ch = 0; ch < C; ++ch) {
        const int head = ch + pre, tail = ch - post - 1;  // the transposed window; tail = head - size
        if (head < C) {
          const double* rh = enter(base, np, head);
          for (int p = 0; p < np; ++p) acc[p] += rh[p];
        }
        if (tail >= 0) {
          const double* rt = ring.data() + (size_t)(tail % slots) * kBlock;
          for (int p = 0; p < np; ++p) acc[p] -= rt[p];
        }
        float pw[kBlock];
        neg_pows(np, scale + base + ch * hw, g.beta, pw);
        for (int p = 0; p < np; ++p) {
          const size_t i = base + ch * hw + p;
          dx[i] = (float)std::fma((double)dy[i], (double)pw[p], -coeff * (double)x[i] * acc[p]);
        }
      }
    }
  }
}

}  // namespace cvg::cpu
