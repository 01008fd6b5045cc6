// CUDA twin of the convolution: explicit im2col (col2im for backward-data) feeding our SGEMM
// (kernels/gemm.h), batched over images and groups in one launch.
//
// Why im2col and not implicit GEMM: the matrix work then lives in ONE kernel, shared with the FC
// layer and tested on its own against OpenBLAS, and the index arithmetic lives in two small, obvious
// kernels that mirror the CPU twin line by line. The price is the im2col buffer and one extra pass
// over it; an implicit-GEMM loader can replace im2col later without touching the GEMM's math.
//
// Images are processed in passes of `per_pass` whose im2col fits kColBudget floats of workspace
// (the plan's words: kernels/conv_core.h). The GEMM's batch index runs over (image, group).
// Backward-weights sums over images INSIDE the GEMM (its "segments"), split into up to
// kWeightPartials partial sums for parallelism when filters are few; the partials are added in a
// fixed order afterwards. No atomics anywhere: every result is
// deterministic run to run.
#include <algorithm>

#include "kernels/conv.h"
#include "kernels/conv_core.h"
#include "kernels/gemm.h"

namespace cvg::cuda {
namespace {

constexpr int64_t kColBudget = int64_t(1) << 25;  // 128 MiB of im2col per pass at most
using conv_core::kWeightPartials;

struct Plan : conv_core::Dims {
  int64_t col_img;            // im2col floats per image (all groups)
  int per_pass;               // images per pass
  int per_partial, partials;  // backward-weights: images of a pass per partial sum, partials
};

Plan plan_of(const ConvGeom& g, const char* who) {
  Plan d;
  static_cast<conv_core::Dims&>(d) = conv_core::dims(g, who);
  d.col_img = d.direct ? 0 : (int64_t)g.c * g.kh * g.kw * d.P;
  int64_t nb = d.direct ? g.n : std::max<int64_t>(1, kColBudget / d.col_img);
  nb = std::min<int64_t>({nb, g.n, 65535 / g.groups});  // grid.z = images x groups <= 65535
  d.per_pass = (int)std::max<int64_t>(nb, 1);
  d.per_partial = (d.per_pass + kWeightPartials - 1) / kWeightPartials;
  d.partials = (d.per_pass + d.per_partial - 1) / d.per_partial;
  return d;
}

inline int blocks_for(int64_t n, int threads) { return (int)std::min<int64_t>((n + threads - 1) / threads, 1 << 20); }

// One thread per (image, channel, output position); writes that position's kh*kw patch entries:
// col[b][(c*kh + i)*kw + j][oy*ow + ox] = x[b][c][oy*s - pad + i][ox*s - pad + j], zero outside.
__global__ void im2col_kernel(int nb, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow,
                              const float* __restrict__ x, float* __restrict__ col) {
  const int64_t total = (int64_t)nb * c * oh * ow, P = (int64_t)oh * ow;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int ox = (int)(t % ow), oy = (int)(t / ow % oh);
    const int64_t bc = t / P;  // image * c + channel
    const float* xc = x + bc * h * w;
    float* dst = col + bc * kh * kw * P + (int64_t)oy * ow + ox;
    for (int i = 0; i < kh; ++i) {
      const int iy = oy * stride - pad + i;
      for (int j = 0; j < kw; ++j) {
        const int ix = ox * stride - pad + j;
        dst[(int64_t)(i * kw + j) * P] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? xc[(int64_t)iy * w + ix] : 0.0f;
      }
    }
  }
}

// The adjoint, as a gather: one thread per input pixel sums every col entry im2col copied from it
// (i, j with (iy + pad - i) divisible by stride, landing inside the output). No atomics.
__global__ void col2im_kernel(int nb, int c, int h, int w, int kh, int kw, int stride, int pad, int oh, int ow,
                              const float* __restrict__ col, float* __restrict__ dx) {
  const int64_t total = (int64_t)nb * c * h * w, P = (int64_t)oh * ow;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int ix = (int)(t % w), iy = (int)(t / w % h);
    const int64_t bc = t / ((int64_t)h * w);
    const float* src = col + bc * kh * kw * P;
    float s = 0.0f;
    for (int i = 0; i < kh; ++i) {
      const int ty = iy + pad - i;
      if (ty < 0 || ty % stride) continue;
      const int oy = ty / stride;
      if (oy >= oh) continue;
      for (int j = 0; j < kw; ++j) {
        const int tx = ix + pad - j;
        if (tx < 0 || tx % stride) continue;
        const int ox = tx / stride;
        if (ox >= ow) continue;
        s += src[(int64_t)(i * kw + j) * P + (int64_t)oy * ow + ox];
      }
    }
    dx[t] = s;
  }
}

// out[i] = sum over s of parts[s][i], s in order.
__global__ void sum_partials_kernel(int partials, int64_t size, const float* __restrict__ parts, float* __restrict__ out) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < size; i += (int64_t)gridDim.x * blockDim.x) {
    float s = parts[i];
    for (int p = 1; p < partials; ++p) s += parts[p * size + i];
    out[i] = s;
  }
}

// db[o] = sum over images and positions of dy[b][o][q]: one block per channel, a fixed strided
// split and a fixed tree, so the same sum every run.
constexpr int kSumThreads = 256;
__global__ void bias_grad_kernel(int n, int k, int P, const float* __restrict__ dy, float* __restrict__ db) {
  __shared__ float part[kSumThreads];
  const int o = blockIdx.x;
  const int64_t total = (int64_t)n * P;
  float s = 0.0f;
  for (int64_t e = threadIdx.x; e < total; e += kSumThreads) s += dy[((e / P) * k + o) * P + e % P];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = kSumThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[o] = part[0];
}

// col = im2col of the nb images from x (one pass).
void im2col(const ConvGeom& g, const Plan& d, int nb, const float* x, float* col) {
  im2col_kernel<<<blocks_for((int64_t)nb * g.c * d.P, 256), 256>>>(nb, g.c, g.h, g.w, g.kh, g.kw, g.stride, g.pad, d.oh, d.ow, x,
                                                                   col);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

// Layers size the workspace once, for their largest batch, and then run smaller ones: this must
// cover every batch up to g.n. A smaller batch has per_pass' <= per_pass images per pass but may
// use MORE weight partials (per_pass 17 gives 9 partials, 16 gives 16), at most
// min(per_pass', kWeightPartials).
size_t conv_workspace_floats(const ConvGeom& g) {
  const Plan d = plan_of(g, "conv_workspace_floats");
  return (size_t)d.per_pass * d.col_img + (size_t)std::min(d.per_pass, kWeightPartials) * g.w_size();
}

void conv_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, float* ws) {
  const Plan d = plan_of(g, "conv_forward");
  const int64_t x_img = (int64_t)g.c * g.h * g.w, y_img = (int64_t)g.k * d.P;
  for (int b0 = 0; b0 < g.n; b0 += d.per_pass) {
    const int in_pass = std::min(d.per_pass, g.n - b0);
    const float* xb = x + b0 * x_img;
    if (!d.direct) im2col(g, d, in_pass, xb, ws);
    detail::GemmBatched p;  // y[b][group] = W[group] col[b][group] + bias
    p.m = d.kg, p.n = d.P, p.k = d.ckk;
    p.A = w, p.lda = d.ckk, p.sA_lo = (int64_t)d.kg * d.ckk;
    p.B = d.direct ? xb : ws, p.ldb = d.P;
    p.sB_hi = d.direct ? x_img : d.col_img, p.sB_lo = (int64_t)d.ckk * d.P;
    p.C = y + b0 * y_img, p.ldc = d.P, p.sC_hi = y_img, p.sC_lo = (int64_t)d.kg * d.P;
    p.hi_count = in_pass, p.lo_count = g.groups;
    p.row_bias = b, p.s_row_bias_lo = d.kg;
    detail::gemm_batched(p);
  }
}

void conv_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx, float* ws) {
  const Plan d = plan_of(g, "conv_backward_data");
  const int64_t x_img = (int64_t)g.c * g.h * g.w, y_img = (int64_t)g.k * d.P;
  for (int b0 = 0; b0 < g.n; b0 += d.per_pass) {
    const int in_pass = std::min(d.per_pass, g.n - b0);
    float* dxb = dx + b0 * x_img;
    detail::GemmBatched p;  // col[b][group] = W[group]^T dy[b][group]
    p.ta = true, p.m = d.ckk, p.n = d.P, p.k = d.kg;
    p.A = w, p.lda = d.ckk, p.sA_lo = (int64_t)d.kg * d.ckk;
    p.B = dy + b0 * y_img, p.ldb = d.P, p.sB_hi = y_img, p.sB_lo = (int64_t)d.kg * d.P;
    p.C = d.direct ? dxb : ws, p.ldc = d.P;
    p.sC_hi = d.direct ? x_img : d.col_img, p.sC_lo = (int64_t)d.ckk * d.P;
    p.hi_count = in_pass, p.lo_count = g.groups;
    detail::gemm_batched(p);
    if (!d.direct) {
      col2im_kernel<<<blocks_for(in_pass * x_img, 256), 256>>>(in_pass, g.c, g.h, g.w, g.kh, g.kw, g.stride, g.pad, d.oh,
                                                          d.ow, ws, dxb);
      CUDA_CHECK_LAUNCH();
    }
  }
}

void conv_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db, float* ws) {
  const Plan d = plan_of(g, "conv_backward_weights");
  const int64_t x_img = (int64_t)g.c * g.h * g.w, y_img = (int64_t)g.k * d.P, wsz = (int64_t)g.w_size();
  float* parts = ws + (int64_t)d.per_pass * d.col_img;  // [partials][w_size]
  for (int b0 = 0; b0 < g.n; b0 += d.per_pass) {
    const int in_pass = std::min(d.per_pass, g.n - b0);
    const float* xb = x + b0 * x_img;
    if (!d.direct) im2col(g, d, in_pass, xb, ws);
    // parts[partial][group] (+)= sum over the partial's images b of dy[b][group] col[b][group]^T.
    // Every pass has in_pass <= per_pass images, so it touches partials
    // [0, ceil(in_pass / per_partial)) <= partials; the first pass (in_pass = per_pass) writes all of
    // them with beta 0.
    detail::GemmBatched p;
    p.tb = true, p.m = d.kg, p.n = d.ckk, p.k = d.P;
    p.beta = b0 == 0 ? 0.0f : 1.0f;
    p.A = dy + b0 * y_img, p.lda = d.P;
    p.sA_hi = d.per_partial * y_img, p.sA_lo = (int64_t)d.kg * d.P, p.sA_seg = y_img;
    const int64_t col_img = d.direct ? x_img : d.col_img;
    p.B = d.direct ? xb : ws, p.ldb = d.P;
    p.sB_hi = d.per_partial * col_img, p.sB_lo = (int64_t)d.ckk * d.P, p.sB_seg = col_img;
    p.C = parts, p.ldc = d.ckk, p.sC_hi = wsz, p.sC_lo = (int64_t)d.kg * d.ckk;
    p.hi_count = (in_pass + d.per_partial - 1) / d.per_partial, p.lo_count = g.groups;
    p.seg_per_hi = d.per_partial, p.seg_total = in_pass;
    detail::gemm_batched(p);
  }
  sum_partials_kernel<<<blocks_for(wsz, 256), 256>>>(d.partials, wsz, parts, dw);
  CUDA_CHECK_LAUNCH();
  if (db) {
    bias_grad_kernel<<<g.k, kSumThreads>>>(g.n, g.k, d.P, dy, db);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace cvg::cuda
