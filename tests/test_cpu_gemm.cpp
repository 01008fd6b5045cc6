// The CPU conv twin's GEMMs (kernels/gemm.h, cpu::): the dispatched entry points and, where the CPU has
// AVX-512, our AVX-512 kernels themselves, against a double loop. Sizes straddle every tile edge
// (8 rows, 32 and 48 columns, 16-wide k steps, 4x4 dot tiles, 256-deep k blocks, and the
// 32 x 48 from which gemm_nt takes the packed kernels). Bounds: tests/bounds.h.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "kernels/gemm.h"
#include "kernels/gemm_avx2.h"
#include "kernels/gemm_avx512.h"
#include "tests/bounds.h"
#include "tests/check.h"

using namespace cvg;

namespace {

struct Case {
  int m, n, k;
};
const Case kCases[] = {{1, 1, 1},      {8, 32, 16},    {9, 33, 17}, {7, 31, 15},
                       {13, 70, 300}, {64, 49, 576}, {5, 3, 513}, {33, 97, 523}, {40, 47, 300}};

// want = op(A) op(B) + beta C0 in double, and the same over absolute values for the bound.
void reference(bool ta, bool tb, const Case& s, const std::vector<float>& a, const std::vector<float>& b,
               const std::vector<float>& c0, float beta, std::vector<double>& want, std::vector<double>& abs) {
  want.assign((size_t)s.m * s.n, 0.0), abs.assign((size_t)s.m * s.n, 0.0);
  for (int i = 0; i < s.m; ++i)
    for (int j = 0; j < s.n; ++j) {
      double v = beta * (double)c0[(size_t)i * s.n + j], t = std::fabs(v);
      for (int p = 0; p < s.k; ++p) {
        const double x = ta ? a[(size_t)p * s.m + i] : a[(size_t)i * s.k + p];
        const double y = tb ? b[(size_t)j * s.k + p] : b[(size_t)p * s.n + j];
        v += x * y, t += std::fabs(x * y);
      }
      want[(size_t)i * s.n + j] = v, abs[(size_t)i * s.n + j] = t;
    }
}

// Runs one product through `product` (writing C m x n, ldc n) and checks it against the double loop.
template <class F>
void check_product(const char* what, bool ta, bool tb, float beta, F product) {
  uint64_t seed = 900;
  for (const Case& s : kCases) {
    INFO(what, ": m ", s.m, " n ", s.n, " k ", s.k, " trans_a ", ta, " beta ", beta);
    const auto a = test::randn((size_t)s.m * s.k, ++seed), b = test::randn((size_t)s.k * s.n, ++seed),
               c0 = test::randn((size_t)s.m * s.n, ++seed);
    std::vector<float> c = c0;
    product(s, a, b, c);
    std::vector<double> want, abs;
    reference(ta, tb, s, a, b, c0, beta, want, abs);
    test::check_bound(what, c, want, abs, test::gamma_n(s.k + 1));
  }
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
}

}  // namespace

TEST_CASE("cpu gemm: GemmLhs and gemm_nt match a double loop (op(A) B, A B^T; beta 0, 1, 0.5)") {
  MESSAGE("CPU GEMM kernels in use: " << std::string(cpu::gemm_kernels()));
  for (float beta : {0.0f, 1.0f, 0.5f}) {
    for (bool ta : {false, true})
      check_product("GemmLhs", ta, false, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
        cpu::GemmLhs(ta, s.m, s.k, a.data(), ta ? s.m : s.k).times(s.n, b.data(), s.n, beta, c.data(), s.n);
      });
    check_product("gemm_nt", false, true, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
      cpu::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, c.data(), s.n);
    });
  }
}

TEST_CASE("cpu gemm: gemm_nt with 32 rows of A and 48 of B or more is BITWISE GemmLhs on B^T (the packed kernels' sums)") {
  // The AVX-512 and AVX2 packed kernels are bitwise equal (below), so this makes gemm_nt's results
  // independent of the CPU too, as scripts/check_same_bits.sh needs. OpenBLAS promises no such thing.
  if (std::string(cpu::gemm_kernels()) == "openblas") {
    std::printf("skipped (OpenBLAS in use): gemm_nt's packed route\n");
    return;
  }
  for (const Case s : {Case{32, 48, 1}, Case{33, 97, 523}, Case{64, 800, 392}, Case{40, 49, 300}}) {
    INFO("m ", s.m, " n ", s.n, " k ", s.k);
    const auto a = test::randn((size_t)s.m * s.k, 31), b = test::randn((size_t)s.n * s.k, 32);
    std::vector<float> bt((size_t)s.k * s.n);
    for (int j = 0; j < s.n; ++j)
      for (int p = 0; p < s.k; ++p) bt[(size_t)p * s.n + j] = b[(size_t)j * s.k + p];
    for (float beta : {0.0f, 0.5f}) {
      std::vector<float> got = test::randn((size_t)s.m * s.n, 33), want = got;
      cpu::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, got.data(), s.n);
      cpu::GemmLhs(false, s.m, s.k, a.data(), s.k).times(s.n, bt.data(), s.n, beta, want.data(), s.n);
      CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("cpu gemm: beta 0 overwrites C without reading it, k = 0 scales C") {
  std::vector<float> a(4 * 3, 1.0f), b(3 * 5, 2.0f), c(4 * 5, NAN);
  cpu::GemmLhs(false, 4, 3, a.data(), 3).times(5, b.data(), 5, 0.0f, c.data(), 5);
  for (float v : c) CHECK(v == 6.0f);
  std::fill(c.begin(), c.end(), NAN);
  cpu::gemm_nt(4, 5, 3, a.data(), 3, b.data(), 3, 0.0f, c.data(), 5);
  for (float v : c) CHECK(v == 6.0f);
  std::fill(c.begin(), c.end(), 3.0f);
  cpu::gemm_nt(4, 5, 0, a.data(), 3, b.data(), 3, 0.5f, c.data(), 5);
  for (float v : c) CHECK(v == 1.5f);
}

TEST_CASE("cpu gemm: the AVX-512 kernels themselves match a double loop, strided operands included") {
  if (!cpu_has_avx512()) {
    std::printf("skipped (no AVX-512 on this CPU): the AVX-512 GEMM kernels\n");
    return;
  }
  for (float beta : {0.0f, 1.0f}) {
    for (bool ta : {false, true})
      check_product("avx512 gemm_packed", ta, false, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
        std::vector<float> packed(cpu::avx512::packed_a_floats(s.m, s.k), NAN);
        cpu::avx512::pack_a(ta, s.m, s.k, a.data(), ta ? s.m : s.k, packed.data());
        // C inside a wider matrix (ldc n + 3) whose extra columns must stay untouched.
        const int ldc = s.n + 3;
        std::vector<float> wide((size_t)s.m * ldc, 7.0f);
        for (int i = 0; i < s.m; ++i) std::copy_n(&c[(size_t)i * s.n], s.n, &wide[(size_t)i * ldc]);
        cpu::avx512::gemm_packed(s.m, s.n, s.k, packed.data(), b.data(), s.n, beta, wide.data(), ldc);
        for (int i = 0; i < s.m; ++i) {
          std::copy_n(&wide[(size_t)i * ldc], s.n, &c[(size_t)i * s.n]);
          for (int j = s.n; j < ldc; ++j) REQUIRE(wide[(size_t)i * ldc + j] == 7.0f);
        }
      });
    check_product("avx512 gemm_nt", false, true, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
      const int ldc = s.n + 5;
      std::vector<float> wide((size_t)s.m * ldc, 7.0f);
      for (int i = 0; i < s.m; ++i) std::copy_n(&c[(size_t)i * s.n], s.n, &wide[(size_t)i * ldc]);
      cpu::avx512::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, wide.data(), ldc);
      for (int i = 0; i < s.m; ++i) {
        std::copy_n(&wide[(size_t)i * ldc], s.n, &c[(size_t)i * s.n]);
        for (int j = s.n; j < ldc; ++j) REQUIRE(wide[(size_t)i * ldc + j] == 7.0f);
      }
    });
  }
}

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

TEST_CASE("cpu gemm: the AVX2 kernels match a double loop, and BITWISE the AVX-512 kernels (same weights on any CPU)") {
  if (!cpu_has_avx2_fma()) {
    std::printf("skipped (no AVX2+FMA on this CPU): the AVX2 GEMM kernels\n");
    return;
  }
  for (float beta : {0.0f, 1.0f, 0.5f}) {
    for (bool ta : {false, true})
      check_product("avx2 gemm_packed", ta, false, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
        std::vector<float> packed(cpu::avx512::packed_a_floats(s.m, s.k), NAN);
        cpu::avx512::pack_a(ta, s.m, s.k, a.data(), ta ? s.m : s.k, packed.data());
        std::vector<float> c512 = c;
        cpu::avx2::gemm_packed(s.m, s.n, s.k, packed.data(), b.data(), s.n, beta, c.data(), s.n);
        if (cpu_has_avx512()) {
          cpu::avx512::gemm_packed(s.m, s.n, s.k, packed.data(), b.data(), s.n, beta, c512.data(), s.n);
          REQUIRE(std::memcmp(c.data(), c512.data(), c.size() * sizeof(float)) == 0);
        }
      });
    check_product("avx2 gemm_nt", false, true, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
      std::vector<float> c512 = c;
      cpu::avx2::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, c.data(), s.n);
      if (cpu_has_avx512()) {
        cpu::avx512::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, c512.data(), s.n);
        REQUIRE(std::memcmp(c.data(), c512.data(), c.size() * sizeof(float)) == 0);
      }
    });
  }
  if (!cpu_has_avx512()) std::printf("AVX2 GEMM checked against the double loop only (no AVX-512 here to compare bitwise)\n");
}
