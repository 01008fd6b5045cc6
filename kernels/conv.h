// Convolution, Caffe's conventions: x [n, c, h, w], weights [k, c/groups, kh, kw] (OIHW),
// bias [k], y [n, k, out_h, out_w]. Groups split input and output channels into equal,
// consecutive blocks (group g sees input channels g*c/groups.. and writes output channels g*k/groups..).
// Output size rounds down, as Caffe's convolution does.
#pragma once
#include "kernels/common.h"

namespace cvg {

struct ConvGeom {
  int n = 1, c = 1, h = 1, w = 1;  // input
  int k = 1, kh = 1, kw = 1;       // output channels and kernel size
  int stride = 1, pad = 0, groups = 1;
  int out_h() const { return (h + 2 * pad - kh) / stride + 1; }
  int out_w() const { return (w + 2 * pad - kw) / stride + 1; }
  size_t x_size() const { return (size_t)n * c * h * w; }
  size_t w_size() const { return (size_t)k * (c / groups) * kh * kw; }
  size_t y_size() const { return (size_t)n * k * out_h() * out_w(); }
};

// Both twins share these signatures: cpu:: takes host pointers, cuda:: device pointers and runs on
// the default stream. `ws` is scratch of conv_workspace_floats(g) floats on the same device
// (each twin says how much it needs; it also suffices for any smaller g.n, as layers size it
// once for their largest batch). Outputs are overwritten, never accumulated into.
#define CVG_CONV_TWIN_API                                                                                    \
  size_t conv_workspace_floats(const ConvGeom& g);                                                           \
  /* y = x (*) w + b; b may be null */                                                                       \
  void conv_forward(const ConvGeom& g, const float* x, const float* w, const float* b, float* y, float* ws); \
  /* dx = transposed convolution of dy with the same filters */                                              \
  void conv_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx, float* ws);         \
  /* dw = sum over batch and positions of dy (x) patches; db = sum of dy (db may be null) */                 \
  void conv_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw, float* db, float* ws);

namespace cpu {
CVG_CONV_TWIN_API
}
namespace cuda {
CVG_CONV_TWIN_API
}
#undef CVG_CONV_TWIN_API

}  // namespace cvg
