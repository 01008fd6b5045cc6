// SGD with momentum and weight decay in Caffe's form:
//   v = momentum * v + lr * (g + wd * w);   w = w - v
// The per-parameter multipliers (biases: lr x2, no decay) are applied by the caller to lr and wd.
#pragma once
#include "kernels/common.h"

namespace cvg {

#define CVG_SGD_TWIN_API void sgd_update(size_t n, float* w, float* v, const float* g, float lr, float momentum, float wd);

namespace cpu {
CVG_SGD_TWIN_API
}
namespace cuda {
CVG_SGD_TWIN_API
}
#undef CVG_SGD_TWIN_API

}  // namespace cvg
