#include "kernels/init.h"

#include <cmath>

#include "kernels/rng.h"

namespace cvg::cpu {

void fill_gaussian(size_t n, float* w, float mean, float std, uint64_t seed, uint64_t stream) {
  const double two_pi = 6.283185307179586476925286766559;
  for (size_t i = 0; i < n; ++i) {
    // (0, 1] keeps log() finite; the two uniforms come from sub-indices 2i and 2i+1.
    double u1 = ((rng_bits(seed, stream, 2 * i) >> 11) + 1) * 0x1.0p-53;
    double u2 = (rng_bits(seed, stream, 2 * i + 1) >> 11) * 0x1.0p-53;
    w[i] = (float)(mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2));
  }
}

void fill_constant(size_t n, float* w, float value) {
  for (size_t i = 0; i < n; ++i) w[i] = value;
}

}  // namespace cvg::cpu
