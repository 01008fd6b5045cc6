// Max pooling, Caffe's conventions: output size rounds up (ceil), and a last window that would
// start past the image (in the padding or, with stride > kernel, beyond it) is dropped, as PyTorch's
// ceil mode does. Caffe drops it only when pad > 0 and otherwise outputs -FLT_MAX for a window that
// holds no input; here, with pad < kernel, every window holds at least one input. The forward pass
// records each output's argmax (the "switches") as an index into its input plane (ih * w + iw);
// backward and the deconvnet's unpooling route gradients through them.
#pragma once
#include <stdexcept>
#include <string>

#include "kernels/common.h"

namespace cvg {

struct PoolGeom {
  int n = 1, c = 1, h = 1, w = 1;
  int kernel = 2, stride = 2, pad = 0;
  static int out_dim(int in, int kernel, int stride, int pad) {
    int o = (in + 2 * pad - kernel + stride - 1) / stride + 1;  // ceil
    if ((o - 1) * stride >= in + pad) --o;                      // window must start inside the image
    return o;
  }
  // std::logic_error naming `who` unless 0 <= pad < kernel and stride >= 1: what keeps every window
  // non-empty (layers get it from their config's checks).
  void check(const char* who) const {
    if (kernel < 1 || stride < 1 || pad < 0 || pad >= kernel)
      throw std::logic_error(std::string(who) + ": pooling needs 0 <= pad < kernel and stride >= 1, got kernel " +
                             std::to_string(kernel) + ", stride " + std::to_string(stride) + ", pad " + std::to_string(pad));
  }
  int out_h() const { return out_dim(h, kernel, stride, pad); }
  int out_w() const { return out_dim(w, kernel, stride, pad); }
  size_t x_size() const { return (size_t)n * c * h * w; }
  size_t y_size() const { return (size_t)n * c * out_h() * out_w(); }
};

#define CVG_POOL_TWIN_API                                                               \
  void maxpool_forward(const PoolGeom& g, const float* x, float* y, int32_t* argmax);   \
  /* dx overwritten: each dy goes to its window's argmax; overlapping windows add up */ \
  void maxpool_backward(const PoolGeom& g, const float* dy, const int32_t* argmax, float* dx);

namespace cpu {
CVG_POOL_TWIN_API
}
namespace cuda {
CVG_POOL_TWIN_API
}
#undef CVG_POOL_TWIN_API

}  // namespace cvg
