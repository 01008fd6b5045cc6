#include <doctest/doctest.h>

#include <cmath>

#include "kernels/init.h"
#include "kernels/rng.h"
#include "tests/check.h"

using namespace cvg;

TEST_CASE("rng: the mix and the stream hash are SplitMix64 and FNV-1a (published test vectors)") {
  // SplitMix64 seeded with 0 yields 0xe220a8397b1dcdaf first: its finaliser applied to the golden gamma.
  CHECK(mix64(0x9e3779b97f4a7c15ULL) == 0xe220a8397b1dcdafULL);
  // FNV-1a 64: the empty string is the offset basis, "a" is 0xaf63dc4c8601ec8c.
  CHECK(rng_stream("") == 0xcbf29ce484222325ULL);
  CHECK(rng_stream("a") == 0xaf63dc4c8601ec8cULL);
}

TEST_CASE("rng: draws are a pure function of (seed, stream, index)") {
  // A net must be reproducible from its seed alone, across builds and versions: these values pin the
  // generator. If they change, every trained net's initialisation and dropout masks change with them.
  CHECK(rng_bits(1, 2, 3) == 0x57b834b23cdc9d17ULL);
  CHECK(rng_bits(42, rng_stream("conv1.weight"), 1000) == 0x1af81157ced9ecfdULL);
  CHECK(rng_bits(1, 2, 3) != rng_bits(2, 2, 3));
  CHECK(rng_bits(1, 2, 3) != rng_bits(1, 3, 3));
  CHECK(rng_bits(1, 2, 3) != rng_bits(1, 2, 4));
  std::vector<float> a(100), b(1000);
  cpu::fill_gaussian(a.size(), a.data(), 0, 1, 7, 9);
  cpu::fill_gaussian(b.size(), b.data(), 0, 1, 7, 9);
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);  // prefix-stable
}

TEST_CASE("rng: gaussian moments and uniform/keep rates") {
  const size_t n = 200000;
  std::vector<float> v(n);
  cpu::fill_gaussian(n, v.data(), 0.5f, 2.0f, 11, 5);
  double s = 0, s2 = 0;
  for (float x : v) s += x, s2 += (double)x * x;
  double mean = s / n, var = s2 / n - mean * mean;
  // standard errors: mean 2/sqrt(n) = 0.0045, variance 4*sqrt(2/n) = 0.0127; allow 5 sigma.
  CHECK(std::fabs(mean - 0.5) < 0.023);
  CHECK(std::fabs(var - 4.0) < 0.064);
  size_t kept = 0;
  double us = 0;
  for (size_t i = 0; i < n; ++i) kept += rng_keep(3, 4, i, 0.3f), us += rng_uniform(3, 4, i);
  // binomial sd sqrt(n p q) = 205 -> 5 sigma ~ 1025 of 140000
  CHECK(std::fabs((double)kept - 0.7 * n) < 1025);
  CHECK(std::fabs(us / n - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
}
