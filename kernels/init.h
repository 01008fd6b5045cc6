// Parameter initialisation from the counter-based RNG. Always drawn on the host and copied to the
// device, so a net is a pure function of (config, seed) on either device, bit for bit.
#pragma once
#include "kernels/common.h"

namespace cvg::cpu {

// w[i] = mean + std * N(0,1), the normal drawn by Box-Muller in double from two 53-bit uniforms of
// element i of `stream`: independent of n, of threads and of the order of the draws.
void fill_gaussian(size_t n, float* w, float mean, float std, uint64_t seed, uint64_t stream);
void fill_constant(size_t n, float* w, float value);

}  // namespace cvg::cpu
