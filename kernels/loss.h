// Softmax cross-entropy over logits [n, c] with int32 labels [n], and the rank of the true class
// (how many classes score strictly higher), which gives top-1 (rank < 1) and top-5 (rank < 5).
#pragma once
#include "kernels/common.h"

namespace cvg {

#define CVG_LOSS_TWIN_API                                                                                          \
  /* prob = softmax(logits) (max-subtracted); loss[i] = -log prob[i, label[i]] */                                  \
  void softmax_xent_forward(int n, int c, const float* logits, const int32_t* labels, float* prob, float* loss);   \
  /* dlogits = scale * (prob - onehot(labels)); scale is 1/batch for a mean loss */                                \
  void softmax_xent_backward(int n, int c, const float* prob, const int32_t* labels, float scale, float* dlogits); \
  void class_rank(int n, int c, const float* logits, const int32_t* labels, int32_t* rank);

namespace cpu {
CVG_LOSS_TWIN_API
}
namespace cuda {
CVG_LOSS_TWIN_API
}
#undef CVG_LOSS_TWIN_API

}  // namespace cvg
