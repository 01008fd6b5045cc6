// Softmax cross-entropy and class rank, CPU twin. One row per OpenMP iteration.
// A label outside [0, c) is a data error: the CPU twin throws InputError naming the
// row; the GPU cannot throw, and writes NaN loss / rank -1 instead (see loss.cu).
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/loss.h"

namespace cvg::cpu {
namespace {

void check_labels(const char* what, int n, int c, const int32_t* labels) {
  for (int i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= c)
      throw InputError(std::string(what) + ": label " + std::to_string(labels[i]) + " of row " + std::to_string(i) +
                       " is outside [0, " + std::to_string(c) + ")");
}

}  // namespace

void softmax_xent_forward(int n, int c, const float* logits, const int32_t* labels, float* prob, float* loss) {
  check_labels("softmax_xent_forward", n, c, labels);
#pragma omp parallel for schedule(static) if ((size_t)n * c > (1 << 14))
  for (int i = 0; i < n; ++i) {
    const float* x = logits + (size_t)i * c;
    float* pr = prob + (size_t)i * c;
    float m = x[0];
    for (int j = 1; j < c; ++j) m = x[j] > m ? x[j] : m;
    // Max subtracted: every exponent <= 0, so no overflow whatever the logits' scale.
    double sum = 0.0;
    for (int j = 0; j < c; ++j) sum += pr[j] = expf(x[j] - m);
    for (int j = 0; j < c; ++j) pr[j] = (float)(pr[j] / sum);
    // -log p_label as log(sum) - (x_label - m): stays finite when p_label underflows to 0.
    loss[i] = (float)(std::log(sum) - (double)(x[labels[i]] - m));
  }
}

void softmax_xent_backward(int n, int c, const float* prob, const int32_t* labels, float scale, float* dlogits) {
  check_labels("softmax_xent_backward", n, c, labels);
#pragma omp parallel for schedule(static) if ((size_t)n * c > (1 << 16))
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < c; ++j) {
      const size_t k = (size_t)i * c + j;
      dlogits[k] = scale * (prob[k] - (j == labels[i] ? 1.0f : 0.0f));
    }
}

void class_rank(int n, int c, const float* logits, const int32_t* labels, int32_t* rank) {
  check_labels("class_rank", n, c, labels);
#pragma omp parallel for schedule(static) if ((size_t)n * c > (1 << 16))
  for (int i = 0; i < n; ++i) {
    const float* x = logits + (size_t)i * c;
    const float t = x[labels[i]];
    int32_t r = 0;
    for (int j = 0; j < c; ++j) r += x[j] > t;  // strictly higher: ties do not count against
    rank[i] = r;
  }
}

}  // namespace cvg::cpu
