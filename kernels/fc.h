// General matrix multiply and the fully-connected layer built on it.
// gemm is row-major: C[m x n] = alpha * op(A) * op(B) + beta * C, op(A) = A^T when ta
// (A stored k x m), lda/ldb/ldc are row strides. The CPU twin calls OpenBLAS; the CUDA twin is our
// own tiled SGEMM (cuBLAS appears only in bench/ and tests as a baseline).
// FC, Caffe's InnerProduct: x [n, in], w [out, in], b [out], y [n, out].
#pragma once
#include "kernels/common.h"

namespace cvg {

#define CVG_FC_TWIN_API                                                                          \
  void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda,        \
            const float* B, int ldb, float beta, float* C, int ldc);                             \
  /* y = x w^T + b; b may be null */                                                             \
  void fc_forward(int n, int in, int out, const float* x, const float* w, const float* b,       \
                  float* y);                                                                     \
  /* dx = dy w */                                                                                \
  void fc_backward_data(int n, int in, int out, const float* dy, const float* w, float* dx);    \
  /* dw = dy^T x, db = column sums of dy (db may be null); both overwritten */                   \
  void fc_backward_weights(int n, int in, int out, const float* x, const float* dy, float* dw,  \
                           float* db);

namespace cpu { CVG_FC_TWIN_API }
namespace cuda { CVG_FC_TWIN_API }
#undef CVG_FC_TWIN_API

}  // namespace cvg
