// What both conv twins share: validation (a bad ConvGeom gives a one-line error, not a crash; the
// net's layers check user configs before, so here it is a caller bug), the sizes of the GEMMs both
// twins build on, and the words of their plans:
//   partial   backward-weights sums the batch into kWeightPartials (or fewer) partial dw sums, each
//             over a fixed set of the images, and adds them in partial order at the end: the same sums
//             whatever thread or block computed them;
//   pass      (CUDA) the images whose im2col fits the workspace at once, one round of launches;
//   per_gemm  (CPU) the images side by side in one backward-weights GEMM.
#pragma once
#include <stdexcept>
#include <string>

#include "kernels/conv.h"

namespace cvg::conv_core {

constexpr int kWeightPartials = 16;  // fixed, so that the number of threads does not matter

inline void check_geom(const ConvGeom& g, const char* who) {
  auto fail = [&](const std::string& what) { throw std::logic_error(std::string(who) + ": " + what); };
  if (g.n < 1 || g.c < 1 || g.h < 1 || g.w < 1 || g.k < 1 || g.kh < 1 || g.kw < 1)
    fail("sizes must be positive (n, c, h, w, k, kh, kw)");
  if (g.stride < 1 || g.pad < 0 || g.groups < 1) fail("need stride >= 1, pad >= 0, groups >= 1");
  if (g.c % g.groups || g.k % g.groups)
    fail("groups " + std::to_string(g.groups) + " must divide channels " + std::to_string(g.c) + " and filters " +
         std::to_string(g.k));
  if (g.h + 2 * g.pad < g.kh || g.w + 2 * g.pad < g.kw)
    fail("kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " larger than padded input " +
         std::to_string(g.h + 2 * g.pad) + "x" + std::to_string(g.w + 2 * g.pad));
}

// Per-group GEMM sizes: y[group] (kg x P) = W[group] (kg x ckk) * col[group] (ckk x P).
struct Dims {
  int cg, kg, oh, ow, P, ckk;  // per-group channels in/out, output size, positions, patch length
  bool direct;                 // 1x1, stride 1, no pad: the input is its own im2col
};

// Validates g (errors name `who`) and derives its GEMM sizes.
inline Dims dims(const ConvGeom& g, const char* who) {
  check_geom(g, who);
  Dims d;
  d.cg = g.c / g.groups, d.kg = g.k / g.groups, d.oh = g.out_h(), d.ow = g.out_w();
  d.P = d.oh * d.ow, d.ckk = d.cg * g.kh * g.kw;
  d.direct = g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0;
  return d;
}

}  // namespace cvg::conv_core
