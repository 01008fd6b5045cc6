// CPU twin of the fully-connected layer, on the CPU gemm (kernels/gemm.h).
#include <algorithm>

#include "kernels/fc.h"
#include "kernels/gemm.h"

namespace cvg::cpu {

void fc_forward(int n, int in, int out, const float* x, const float* w, const float* b, float* y) {
  gemm(false, true, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
  if (b)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < out; ++j) y[(size_t)i * out + j] += b[j];
}

void fc_backward_data(int n, int in, int out, const float* dy, const float* w, float* dx) {
  gemm(false, false, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
}

void fc_backward_weights(int n, int in, int out, const float* x, const float* dy, float* dw, float* db) {
  gemm(true, false, out, in, n, 1.0f, dy, out, x, in, 0.0f, dw, in);
  if (db) {  // rows added in order: deterministic, vectorised across columns
    std::fill(db, db + out, 0.0f);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < out; ++j) db[j] += dy[(size_t)i * out + j];
  }
}

}  // namespace cvg::cpu
