// One counter-based random number generator for the whole engine.
// A draw is a pure function of (seed, stream, index): no state, so the CPU and the GPU, any thread
// order and any batch split produce the same numbers. `stream` names what is drawn (a parameter
// tensor, a dropout layer at an iteration), `index` the element.
#pragma once
#include "kernels/common.h"

namespace cvg {

// SplitMix64's finaliser: a bijective avalanche mix of 64 bits.
CVG_HD uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// 64 random bits for element `index` of `stream` under `seed`.
CVG_HD uint64_t rng_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  return mix64(mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ stream) + index * 0x9e3779b97f4a7c15ULL);
}

// Uniform in [0, 1) with 24 bits, exact in float: the same float on every device.
CVG_HD float rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return (float)(rng_bits(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}

// Dropout keeps element `index` with probability 1 - p. Integer comparison, so the mask is
// bit-identical on CPU and GPU.
CVG_HD bool rng_keep(uint64_t seed, uint64_t stream, uint64_t index, float p) {
  const uint32_t threshold = (uint32_t)((double)p * 16777216.0);
  return (uint32_t)(rng_bits(seed, stream, index) >> 40) >= threshold;
}

// Stream id from a name (FNV-1a), so a tensor's draws are keyed by its layer name, not its position.
inline uint64_t rng_stream(const char* name, uint64_t salt = 0) {
  uint64_t h = 0xcbf29ce484222325ULL ^ salt;
  for (; *name; ++name) h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
  return h;
}

}  // namespace cvg
