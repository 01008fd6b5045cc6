// CPU twin of the convolution: im2col + a single-threaded GEMM per image and group
// (kernels/gemm.h: our AVX-512 kernels, or OpenBLAS), OpenMP over the batch. Each thread owns
// one slice of the workspace (its im2col buffer); a layer's weights are packed for the GEMM once
// per call. Work is handed out dynamically (a thread that the OS descheduled on a busy machine does
// not hold the others at the barrier), which is free because results do not depend on which thread
// computes what, nor on the number of threads:
//  - forward and backward-data: each image is computed by one thread, start to finish;
//  - backward-weights: the batch is cut into a FIXED number of partials (min(n, kWeightPartials),
//    kernels/conv_core.h), each a run of consecutive images summed per_gemm images at a time (one,
//    or several side by side when an image has few output positions) into its own dw/db, and the
//    partials added in order.
// A 1x1 stride-1 unpadded conv is a plain GEMM on the input: no im2col. Where it pays (forward_direct,
// weights_direct) the forward and backward-weights skip im2col too (kernels/conv_direct.h), with the same bits.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "kernels/conv.h"
#include "kernels/conv_core.h"
#include "kernels/conv_direct.h"
#include "kernels/gemm.h"

namespace cvg::cpu {
namespace {

using conv_core::kWeightPartials;
// Backward-weights sums over output positions (the GEMM's k). Where an image has fewer than this,
// several images of a partial go into one GEMM: a dot product over 49 positions is mostly overhead.
constexpr int kWeightMinK = 256;
// Backward-data computes col and folds it into dx a piece of this many rows at a time, while the
// piece is still in cache: all of col first (3.1 MB for CaffeNet's conv3 at two images side by
// side) no longer was, and folding it took 9% longer (AVX2, 2 threads).
constexpr int kColRows = 256;

struct Plan : conv_core::Dims {
  int per_gemm;  // images per backward-weights GEMM
  size_t col;    // workspace floats per thread: im2col of per_gemm images (+ their dy)
  int threads, partials;
};

Plan plan_of(const ConvGeom& g, const char* who) {
  Plan d;
  static_cast<conv_core::Dims&>(d) = conv_core::dims(g, who);
  d.threads = std::max(1, omp_get_max_threads());
  d.partials = std::min(g.n, kWeightPartials);
  const int max_partial = d.partials ? (g.n + d.partials - 1) / d.partials : 1;
  d.per_gemm = std::max(1, std::min(max_partial, (kWeightMinK + d.P - 1) / std::max(d.P, 1)));
  const size_t one = d.direct ? 0 : (size_t)d.ckk * d.P;
  d.col = d.per_gemm == 1 ? one : (size_t)d.per_gemm * d.P * (d.ckk + g.k);
  if (DirectConv::fits(g)) d.col = std::max(d.col, DirectConv::floats(g, d.per_gemm));
  if (DirectWeights::fits(g)) d.col = std::max(d.col, DirectWeights::floats(g, d.per_gemm) + g.w_size());
  return d;
}

// Output columns ox whose input column ox*stride - pad + j lies inside [0, w): [lo, hi).
inline void valid_range(int j, int w, int ow, int stride, int pad, int& lo, int& hi) {
  lo = pad - j <= 0 ? 0 : (pad - j + stride - 1) / stride;
  int last = w - 1 + pad - j;  // largest ox*stride allowed
  hi = last < 0 ? 0 : std::min(ow, last / stride + 1);
  lo = std::min(lo, hi);
}

// One group of one image lowered to its im2col matrix and back, built once per layer call.
// Stride 1 with rows as long as the input's (ow == w, a "same" convolution) has a fast path: a tap
// (i, j) sees the input plane shifted by (i - p) rows and (j - p) columns, so its im2col row is one
// contiguous run of the plane, except the outputs whose column ox falls outside the tap's [lo, hi),
// which wrapped into the neighbouring input row and read as zero (keep says which).
struct Lowering {
  const ConvGeom& g;
  int cg, oh, ow;
  size_t P;                   // outputs per plane
  bool same;                  // stride 1, ow == w: the fast path
  std::vector<int32_t> keep;  // same: keep[j*P + q] = output q's column lies in tap column j's [lo, hi)

  Lowering(const ConvGeom& g, const conv_core::Dims& d)
      : g(g), cg(d.cg), oh(d.oh), ow(d.ow), P((size_t)d.P), same(g.stride == 1 && d.ow == g.w) {
    if (!same) return;
    keep.resize((size_t)g.kw * P);
    for (int j = 0; j < g.kw; ++j) {
      int lo, hi;
      valid_range(j, g.w, ow, 1, g.pad, lo, hi);
      int32_t* kj = keep.data() + j * P;
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) kj[oy * ow + ox] = ox >= lo && ox < hi;
    }
  }
  // im2col row r is channel c's tap (i, j): r = (c*kh + i)*kw + j.
  void tap(int r, int& c, int& i, int& j) const { c = r / (g.kh * g.kw), i = r / g.kw % g.kh, j = r % g.kw; }
  // same, tap (i, j): output q reads input q + shift of its plane, for q in [d0, d1) (the rows
  // inside the plane); outside it, nothing.
  void span(int i, int j, long& shift, long& d0, long& d1) const {
    int y0, y1;
    valid_range(i, g.h, oh, 1, g.pad, y0, y1);
    shift = (long)(i - g.pad) * g.w + (j - g.pad);
    d0 = std::max<long>((long)y0 * g.w, -shift), d1 = std::min<long>((long)y1 * g.w, (long)g.h * g.w - shift);
    if (d0 >= d1) d0 = d1 = 0;  // no output of the tap reads the plane
  }
};

// col[(c*kh + i)*kw + j][oy*ow + ox] = x[c][oy*s - pad + i][ox*s - pad + j], zero outside, for the
// rows r0 <= (c*kh + i)*kw + j < r1 (row r at col + (r - r0)*ld); col's rows are ld floats apart
// (oh*ow for one image, more when several images share the matrix).
// The zero runs are short (a padding row or a few columns) and there are thousands per image: GCC
// is told not to turn them into calls to memset, whose per-call cost was most of their time
// (clang, which builds the sanitizer flavour, has no such option).
#if defined(__clang__)
#define CVG_NO_MEMSET_CALLS
#else
#define CVG_NO_MEMSET_CALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
CVG_NO_MEMSET_CALLS void im2col(const Lowering& L, const float* x, float* col, size_t ld, int r0, int r1) {
  const ConvGeom& g = L.g;
  const int h = g.h, w = g.w, oh = L.oh, ow = L.ow, s = g.stride, p = g.pad;
  for (int r = r0; r < r1; ++r) {
    int c, i, j;
    L.tap(r, c, i, j);
    float* row = col + (size_t)(r - r0) * ld;
    const float* xc = x + (size_t)c * h * w;
    if (L.same) {
      // The zeros above and below the plane, the shifted plane masked by keep in between (a
      // select that vectorises, where a copy then a fix-up per output row did not).
      const long P = (long)L.P;
      long shift, d0, d1;
      L.span(i, j, shift, d0, d1);
      const float* src = xc + shift;
      const int32_t* kj = L.keep.data() + j * P;
      for (long q = 0; q < d0; ++q) row[q] = 0.0f;
      for (long q = d0; q < d1; ++q) {
        const float v = src[q];     // read unconditionally (all of [d0, d1) is inside the plane): a
        row[q] = kj[q] ? v : 0.0f;  // plain vector load and a blend, not a masked load
      }
      for (long q = d1; q < P; ++q) row[q] = 0.0f;
      continue;
    }
    int lo, hi;
    valid_range(j, w, ow, s, p, lo, hi);
    // Output rows whose input row oy*s - p + i lies inside [0, h): [y0, y1).
    int y0, y1;
    valid_range(i, h, oh, s, p, y0, y1);
    for (size_t q = 0; q < (size_t)y0 * ow; ++q) row[q] = 0.0f;
    for (size_t q = (size_t)y1 * ow; q < (size_t)oh * ow; ++q) row[q] = 0.0f;
    for (int oy = y0; oy < y1; ++oy) {
      float* out = row + (size_t)oy * ow;
      const float* src = xc + (size_t)(oy * s - p + i) * w;  // input column of ox: ox*s - p + j >= 0
      for (int ox = 0; ox < lo; ++ox) out[ox] = 0.0f;
      if (s == 1)
        std::memcpy(out + lo, src + (lo - p + j), sizeof(float) * (hi - lo));
      else
        for (int ox = lo; ox < hi; ++ox) out[ox] = src[ox * s - p + j];
      for (int ox = hi; ox < ow; ++ox) out[ox] = 0.0f;
    }
  }
}

// v[0] + ... + v[n-1] in 16 lanes (v[q] into lane q % 16), the lanes then added pairwise: it
// vectorises where one serial chain of float adds would wait on every add, and the order is the
// code's, whatever the ISA or the thread count.
float row_sum(const float* v, int n) {
  constexpr int kLanes = 16;
  float lane[kLanes] = {};
  int q = 0;
  for (; q + kLanes <= n; q += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] += v[q + l];
  for (int l = 0; q + l < n; ++l) lane[l] += v[q + l];
  for (int half = kLanes / 2; half > 0; half /= 2)
    for (int l = 0; l < half; ++l) lane[l] += lane[l + half];
  return lane[0];
}

// The adjoint of im2col: dx[c][iy][ix] += every entry of col's rows r0..r1-1 (as im2col's) that
// im2col copied from it. dx is zeroed by the caller; rows are added in increasing order, so calls
// over consecutive row ranges give the sums of one call over all rows, bit for bit.
void col2im(const Lowering& L, const float* col, float* dx, size_t ld, int r0, int r1) {
  const ConvGeom& g = L.g;
  const int h = g.h, w = g.w, oh = L.oh, ow = L.ow, s = g.stride, p = g.pad;
  for (int r = r0; r < r1; ++r) {
    int c, i, j;
    L.tap(r, c, i, j);
    const float* row = col + (size_t)(r - r0) * ld;
    if (L.same) {
      // A tap's valid outputs are the plane shifted, added as one contiguous run; the columns that
      // wrapped into the neighbouring row add +0 instead. dx starts at +0 and a sum of floats that
      // starts at +0 is never -0, so adding +0 changes no bit: the sums are the row-by-row loop's,
      // in the same order, in one long vectorised loop instead of many short ones.
      const int32_t* kj = L.keep.data() + j * L.P;
      long shift, d0, d1;
      L.span(i, j, shift, d0, d1);
      float* dst = dx + (size_t)c * h * w + shift;
      for (long q = d0; q < d1; ++q) {
        const float v = row[q];  // unconditional, as in im2col: no masked load
        dst[q] += kj[q] ? v : 0.0f;
      }
      continue;
    }
    int lo, hi;
    valid_range(j, w, ow, s, p, lo, hi);
    for (int oy = 0; oy < oh; ++oy, row += ow) {
      int iy = oy * s - p + i;
      if (iy < 0 || iy >= h) continue;
      float* dst = dx + ((size_t)c * h + iy) * w;
      if (s == 1)
        for (int ox = lo; ox < hi; ++ox) dst[ox - p + j] += row[ox];  // contiguous: vectorises
      else
        for (int ox = lo; ox < hi; ++ox) dst[ox * s - p + j] += row[ox];
    }
  }
}

}  // namespace

size_t conv_workspace_floats(const ConvGeom& g) {
  Plan d = plan_of(g, "conv_workspace_floats");
  return d.threads * d.col + (size_t)d.partials * (g.w_size() + g.k);
}

// Forward and backward-data multiply the weights by nb images side by side (nb = per_gemm, as in
// backward-weights, so each GEMM is wide enough to fill its micro-tiles: 49 positions alone leave
// a tile almost empty); every output element is the same dot product in the same order whatever nb.
int images_per_gemm(const Plan& d) { return d.direct ? 1 : d.per_gemm; }

// The direct routes (kernels/conv_direct.h: no im2col, the same bits) where they beat im2col + GEMM:
// on the AVX2 kernels, and on the AVX-512 kernels where the CPU splits 512-bit operations in halves
// (avx512_split_in_halves); elsewhere the AVX-512 GEMM's wider tiles win. Backward-weights:
// 1.1-1.4x faster on alexnet-mini's conv2-5 and CaffeNet's conv1 and conv2 on AMD Zen 3 (AVX2);
// on Zen 4 (AVX-512) alexnet-mini's conv2-5 backward 1.1-1.2x and CaffeNet's conv1 1.4x, CaffeNet's
// conv2-5 about even. The forward on Zen 4 only up to 96 filters per group, where im2col's copy
// weighs most per product: alexnet-mini's conv2-5 1.1-1.2x, CaffeNet's conv1 1.2-1.6x; from 128
// on (CaffeNet's conv2-5) the GEMM was 1.15x faster.
bool avx2_kernels() { return std::strcmp(gemm_kernels(), "avx2") == 0; }
bool forward_direct(const ConvGeom& g) {
  return DirectConv::fits(g) && (avx2_kernels() || (avx512_split_in_halves() && g.k / g.groups <= 96));
}
bool weights_direct(const ConvGeom& g) { return DirectWeights::fits(g) && (avx2_kernels() || avx512_split_in_halves()); }

void conv_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, float* ws) {
  const Plan d = plan_of(g, "conv_forward");
  if (forward_direct(g)) {
    const int per = d.per_gemm, runs = (g.n + per - 1) / per;
    const DirectConv direct(g, per, w);
#pragma omp parallel for schedule(dynamic, 1) num_threads(d.threads)
    for (int run = 0; run < runs; ++run) {
      const int img0 = run * per;
      direct.forward(x + (size_t)img0 * g.c * g.h * g.w, std::min(per, g.n - img0), b, y + (size_t)img0 * g.k * d.P,
                     ws + omp_get_thread_num() * d.col);
    }
    return;
  }
  const Lowering lower(g, d);
  std::vector<GemmLhs> wg;  // W_g: kg x ckk
  for (int gr = 0; gr < g.groups; ++gr) wg.emplace_back(false, d.kg, d.ckk, w + (size_t)gr * d.kg * d.ckk, d.ckk);
  const int per = images_per_gemm(d), runs = (g.n + per - 1) / per;
#pragma omp parallel for schedule(dynamic, 1) num_threads(d.threads)
  for (int run = 0; run < runs; ++run) {
    const int img0 = run * per, nb = std::min(per, g.n - img0);
    const size_t K = (size_t)nb * d.P;  // the GEMM's n: positions of nb images side by side
    float* col = ws + omp_get_thread_num() * d.col;
    float* out = col + (size_t)d.ckk * K;  // nb > 1: the product, [kg][K], before it goes to y
    for (int gr = 0; gr < g.groups; ++gr) {
      const float* B = x + ((size_t)img0 * g.c + (size_t)gr * d.cg) * g.h * g.w;
      if (!d.direct) {
        for (int i = 0; i < nb; ++i)
          im2col(lower, x + ((size_t)(img0 + i) * g.c + (size_t)gr * d.cg) * g.h * g.w, col + (size_t)i * d.P, K, 0, d.ckk);
        B = col;
      }
      float* y0 = y + ((size_t)img0 * g.k + (size_t)gr * d.kg) * d.P;
      wg[gr].times((int)K, B, (int)K, 0.0f, nb > 1 ? out : y0, (int)K);
      for (int i = 0; i < nb; ++i)
        for (int o = 0; o < d.kg; ++o) {
          float* row = y + (((size_t)(img0 + i) * g.k + (size_t)gr * d.kg + o) * d.P);
          const float* src = nb > 1 ? out + o * K + (size_t)i * d.P : row;
          const float bo = b ? b[gr * d.kg + o] : 0.0f;
          if (b)
            for (int q = 0; q < d.P; ++q) row[q] = src[q] + bo;
          else if (src != row)
            std::copy_n(src, d.P, row);
        }
    }
  }
}

void conv_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx, float* ws) {
  const Plan d = plan_of(g, "conv_backward_data");
  const Lowering lower(g, d);
  std::vector<GemmLhs> wt;  // W_g^T: ckk x kg
  for (int gr = 0; gr < g.groups; ++gr) wt.emplace_back(true, d.ckk, d.kg, w + (size_t)gr * d.kg * d.ckk, d.ckk);
  const int per = images_per_gemm(d), runs = (g.n + per - 1) / per;
#pragma omp parallel for schedule(dynamic, 1) num_threads(d.threads)
  for (int run = 0; run < runs; ++run) {
    const int img0 = run * per, nb = std::min(per, g.n - img0);
    const size_t K = (size_t)nb * d.P;
    float* col = ws + omp_get_thread_num() * d.col;
    float* dyb = col + (size_t)d.ckk * K;  // nb > 1: dy_g of the nb images side by side, [kg][K]
    for (int gr = 0; gr < g.groups; ++gr) {
      const float* B = dy + ((size_t)img0 * g.k + (size_t)gr * d.kg) * d.P;
      if (nb > 1) {
        for (int i = 0; i < nb; ++i)
          for (int o = 0; o < d.kg; ++o)
            std::copy_n(dy + ((size_t)(img0 + i) * g.k + (size_t)gr * d.kg + o) * d.P, d.P, dyb + o * K + (size_t)i * d.P);
        B = dyb;
      }
      float* dx0 = dx + ((size_t)img0 * g.c + (size_t)gr * d.cg) * g.h * g.w;
      // col = W_g^T dy_g: [ckk x kg] * [kg x K], then folded into dx, a piece of rows at a time.
      if (d.direct) {
        wt[gr].times((int)K, B, (int)K, 0.0f, dx0, (int)K);
        continue;
      }
      for (int i = 0; i < nb; ++i) std::fill_n(dx0 + (size_t)i * g.c * g.h * g.w, (size_t)d.cg * g.h * g.w, 0.0f);
      for (int r0 = 0; r0 < d.ckk; r0 += kColRows) {
        const int r1 = std::min(d.ckk, r0 + kColRows);
        wt[gr].times_rows(r0, r1, (int)K, B, (int)K, 0.0f, col, (int)K);
        for (int i = 0; i < nb; ++i) col2im(lower, col + (size_t)i * d.P, dx0 + (size_t)i * g.c * g.h * g.w, K, r0, r1);
      }
    }
  }
}

void conv_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db, float* ws) {
  const Plan d = plan_of(g, "conv_backward_weights");
  const Lowering lower(g, d);
  const size_t wsz = g.w_size(), part_sz = wsz + g.k;
  float* parts = ws + d.threads * d.col;  // partial p: its dw [wsz], then its db [k]
  std::optional<DirectWeights> direct;
  if (weights_direct(g)) direct.emplace(g, d.per_gemm);
#pragma omp parallel for schedule(dynamic, 1) num_threads(d.threads)
  for (int part = 0; part < d.partials; ++part) {
    float* col = ws + omp_get_thread_num() * d.col;
    float* pdw = parts + part * part_sz;
    float* pdb = pdw + wsz;
    const int first = (int)((long long)g.n * part / d.partials), last = (int)((long long)g.n * (part + 1) / d.partials);
    std::fill(pdb, pdb + g.k, 0.0f);
    if (direct) {  // the partial's sums transposed (ct) after the scratch, then turned into dw
      float* ct = col + DirectWeights::floats(g, d.per_gemm);
      for (int img0 = first; img0 < last; img0 += d.per_gemm)
        direct->add(x + (size_t)img0 * g.c * g.h * g.w, dy + (size_t)img0 * g.k * d.P, std::min(d.per_gemm, last - img0),
                    img0 == first, ct, col);
      direct->to_dw(ct, pdw);
    } else {
      for (int img0 = first; img0 < last; img0 += d.per_gemm) {
        const int nb = std::min(d.per_gemm, last - img0);
        const size_t K = (size_t)nb * d.P;  // the GEMM's k: positions of nb images side by side
        // One image: its im2col and dy as they are. Several: both copied into [rows][K] matrices.
        float* dyb = col + (size_t)d.per_gemm * d.P * d.ckk;
        if (nb > 1)
          for (int b = 0; b < nb; ++b)
            for (int o = 0; o < g.k; ++o)
              std::copy_n(dy + ((size_t)(img0 + b) * g.k + o) * d.P, d.P, dyb + o * K + (size_t)b * d.P);
        for (int gr = 0; gr < g.groups; ++gr) {
          const float* B = x + ((size_t)img0 * g.c + (size_t)gr * d.cg) * g.h * g.w;  // direct, one image
          if (!d.direct || nb > 1) {
            for (int b = 0; b < nb; ++b) {
              const float* xg = x + ((size_t)(img0 + b) * g.c + (size_t)gr * d.cg) * g.h * g.w;
              if (d.direct)
                for (int c = 0; c < d.cg; ++c) std::copy_n(xg + (size_t)c * d.P, d.P, col + c * K + (size_t)b * d.P);
              else
                im2col(lower, xg, col + (size_t)b * d.P, K, 0, d.ckk);
            }
            B = col;
          }
          const float* A = nb > 1 ? dyb + (size_t)gr * d.kg * K : dy + ((size_t)img0 * g.k + (size_t)gr * d.kg) * d.P;
          // dw_g (+)= dy_g col^T: [kg x K] * [K x ckk]; the partial's first GEMM overwrites.
          gemm_nt(d.kg, d.ckk, (int)K, A, (int)K, B, (int)K, img0 == first ? 0.0f : 1.0f, pdw + (size_t)gr * d.kg * d.ckk, d.ckk);
        }
      }
    }
    if (db)  // per image, in order
      for (int img = first; img < last; ++img) {
        const float* dyi = dy + (size_t)img * g.k * d.P;
        for (int o = 0; o < g.k; ++o) pdb[o] += row_sum(dyi + (size_t)o * d.P, d.P);
      }
  }
  // Add the partials in order: the same sums whatever thread computed them.
  const long long total = db ? (long long)part_sz : (long long)wsz;
#pragma omp parallel for schedule(static) num_threads(d.threads) if (total * d.partials > (1 << 15))
  for (long long i = 0; i < total; ++i) {
    float s = parts[i];
    for (int part = 1; part < d.partials; ++part) s += parts[part * part_sz + i];
    if (i < (long long)wsz)
      dw[i] = s;
    else
      db[i - wsz] = s;
  }
}

}  // namespace cvg::cpu
