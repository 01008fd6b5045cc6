// Local response normalisation across channels, Caffe's formula:
//   scale_i = k + (alpha / size) * sum_{j in window(i)} x_j^2,   y_i = x_i * scale_i^-beta
// with the window of `size` channels centred on i (clipped at the ends).
#pragma once
#include "kernels/common.h"

namespace cvg {

struct LrnGeom {
  int n = 1, c = 1, h = 1, w = 1;
  int size = 5;
  float alpha = 1e-4f, beta = 0.75f, k = 1.0f;
  size_t x_size() const { return (size_t)n * c * h * w; }
};

#define CVG_LRN_TWIN_API                                                                                 \
  /* scale (same shape as x) is saved for backward */                                                    \
  void lrn_forward(const LrnGeom& g, const float* x, float* y, float* scale);                            \
  /* dx_i = dy_i scale_i^-beta - (2 alpha beta / size) x_i sum_{j: i in window(j)} dy_j y_j / scale_j */ \
  void lrn_backward(const LrnGeom& g, const float* x, const float* y, const float* scale, const float* dy, float* dx);

namespace cpu {
CVG_LRN_TWIN_API
}
namespace cuda {
CVG_LRN_TWIN_API
}
#undef CVG_LRN_TWIN_API

}  // namespace cvg
