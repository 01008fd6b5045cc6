// The fully-connected layer, Caffe's InnerProduct: x [n, in], w [out, in], b [out], y [n, out].
// Both twins are built on the gemm family (kernels/gemm.h).
#pragma once
#include "kernels/common.h"

namespace cvg {

#define CVG_FC_TWIN_API                                                                              \
  /* y = x w^T + b; b may be null */                                                                 \
  void fc_forward(int n, int in, int out, const float* x, const float* w, const float* b, float* y); \
  /* dx = dy w */                                                                                    \
  void fc_backward_data(int n, int in, int out, const float* dy, const float* w, float* dx);         \
  /* dw = dy^T x, db = column sums of dy (db may be null); both overwritten */                       \
  void fc_backward_weights(int n, int in, int out, const float* x, const float* dy, float* dw, float* db);

namespace cpu {
CVG_FC_TWIN_API
}
namespace cuda {
CVG_FC_TWIN_API
}
#undef CVG_FC_TWIN_API

}  // namespace cvg
