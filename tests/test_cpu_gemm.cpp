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

TEST_CASE("cpu gemm: GemmLhs::times_rows gives those rows of times(), bit for bit; ranges off the panels are rejected") {
  const int m = 37, n = 29, k = 300;
  for (bool ta : {false, true}) {
    const auto a = test::randn((size_t)m * k, 51), b = test::randn((size_t)k * n, 52), c0 = test::randn((size_t)m * n, 53);
    const cpu::GemmLhs lhs(ta, m, k, a.data(), ta ? m : k);
    for (float beta : {0.0f, 0.5f}) {
      std::vector<float> want = c0, got = c0;
      lhs.times(n, b.data(), n, beta, want.data(), n);
      for (int i0 : {0, 16, 24})  // rows [0, 16), [16, 24), [24, 37)
        lhs.times_rows(i0, i0 == 0 ? 16 : i0 == 16 ? 24 : m, n, b.data(), n, beta, got.data() + (size_t)i0 * n, n);
      if (std::string(cpu::gemm_kernels()) != "openblas")
        CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
      std::vector<double> ref, abs;
      reference(ta, false, {m, n, k}, a, b, c0, beta, ref, abs);
      test::check_bound("times_rows", got, ref, abs, test::gamma_n(k + 1));
    }
    std::vector<float> c((size_t)m * n);
    CHECK_THROWS_AS(lhs.times_rows(4, 20, n, b.data(), n, 0.0f, c.data(), n), std::logic_error);
    CHECK_THROWS_AS(lhs.times_rows(8, 38, n, b.data(), n, 0.0f, c.data(), n), std::logic_error);
  }
}

TEST_CASE("cpu gemm: gemm_nt_halves is BITWISE gemm_nt's dot-product tiles on the plain rows (any k, strided rows)") {
  // The statistics' products on the AVX2 kernels (kernels/stats_cpu.cpp): rows in halves must give
  // the bits of the plain rows' dot products, which the AVX-512 CPUs compute.
  const bool ours = std::string(cpu::gemm_kernels()) != "openblas";
  MESSAGE("rows in halves " << std::string(cpu::nt_halves_pays() ? "pay here (AVX2 kernels)" : "re-formed as plain rows here"));
  for (float beta : {0.0f, 1.0f, 0.5f})
    check_product("gemm_nt_halves", false, true, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
      const int h = (s.k + 15) / 16 * 8, ld = 2 * h + 8;  // rows ld apart, 8 floats of NaN between them
      auto halves = [&](int rows, const std::vector<float>& x) {
        std::vector<float> out((size_t)rows * ld, NAN);
        for (int r = 0; r < rows; ++r) cpu::to_halves(&x[(size_t)r * s.k], s.k, &out[(size_t)r * ld], h);
        return out;
      };
      const std::vector<float> ha = halves(s.m, a), hb = halves(s.n, b);
      std::vector<float> dots = c;
      for (int i0 = 0; i0 < s.m; i0 += 16)  // under 32 rows: gemm_nt's dot-product tiles
        cpu::gemm_nt(std::min(16, s.m - i0), s.n, s.k, &a[(size_t)i0 * s.k], s.k, b.data(), s.k, beta, &dots[(size_t)i0 * s.n],
                     s.n);
      cpu::gemm_nt_halves(s.m, s.n, h, ha.data(), ld, hb.data(), ld, beta, c.data(), s.n);
      if (ours) REQUIRE(test::same_bits(c, dots));
    });
  std::vector<float> row(20, 1.0f), out(16);
  CHECK_THROWS_AS(cpu::to_halves(row.data(), 20, out.data(), 8), std::logic_error);  // 20 values do not fit 2 x 8
  CHECK_THROWS_AS(cpu::gemm_nt_halves(1, 1, 12, row.data(), 24, row.data(), 24, 0.0f, out.data(), 1), std::logic_error);
}

TEST_CASE("cpu gemm: gemm_nt's dot-product tiles sum in the documented order, BITWISE (16 FMA lanes, then the sum4 tree)") {
  // kernels/gemm_avx2.cpp's header: lane l takes p = l, l+16, ... by fma; lanes reduced as
  // ((x0+x2)+(x1+x3)) per group of 4, groups as (G0+G2)+(G1+G3); then fma(beta, c, sum). Written
  // out here in scalars, it pins the AVX2 and AVX-512 tiles to the same bits on any CPU.
  if (std::string(cpu::gemm_kernels()) == "openblas") {
    std::printf("skipped (OpenBLAS in use): gemm_nt's dot-product tiles\n");
    return;
  }
  for (const Case s : {Case{1, 1, 1}, Case{5, 7, 33}, Case{16, 29, 300}, Case{3, 2, 2048}}) {
    INFO("m ", s.m, " n ", s.n, " k ", s.k);
    auto a = test::randn((size_t)s.m * s.k, 61), b = test::randn((size_t)s.n * s.k, 62);
    for (size_t t = 0; t < a.size(); ++t) a[t] = std::ldexp(a[t], (int)(t % 41) - 20);  // magnitudes 2^-20..2^20 expose any reordering
    for (float beta : {0.0f, 0.5f}) {
      const auto c0 = test::randn((size_t)s.m * s.n, 63);
      std::vector<float> got = c0, want = c0;
      cpu::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, got.data(), s.n);
      for (int i = 0; i < s.m; ++i)
        for (int j = 0; j < s.n; ++j) {
          float x[16] = {};
          for (int p = 0; p < s.k; ++p) x[p % 16] = std::fma(a[(size_t)i * s.k + p], b[(size_t)j * s.k + p], x[p % 16]);
          float g[4];
          for (int q = 0; q < 4; ++q) g[q] = (x[4 * q] + x[4 * q + 2]) + (x[4 * q + 1] + x[4 * q + 3]);
          float v = (g[0] + g[2]) + (g[1] + g[3]);
          float& w = want[(size_t)i * s.n + j];
          w = beta != 0.0f ? std::fma(beta, w, v) : v;
        }
      CHECK(test::same_bits(got, want));
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
  if (!test::cpu_has_avx512()) {
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

TEST_CASE("cpu gemm: the AVX2 kernels match a double loop, and BITWISE the AVX-512 kernels (same weights on any CPU)") {
  if (!test::cpu_has_avx2_fma()) {
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
        if (test::cpu_has_avx512()) {
          cpu::avx512::gemm_packed(s.m, s.n, s.k, packed.data(), b.data(), s.n, beta, c512.data(), s.n);
          REQUIRE(std::memcmp(c.data(), c512.data(), c.size() * sizeof(float)) == 0);
        }
      });
    check_product("avx2 gemm_nt", false, true, beta, [&](const Case& s, auto& a, auto& b, auto& c) {
      std::vector<float> c512 = c;
      cpu::avx2::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, c.data(), s.n);
      if (test::cpu_has_avx512()) {
        cpu::avx512::gemm_nt(s.m, s.n, s.k, a.data(), s.k, b.data(), s.k, beta, c512.data(), s.n);
        REQUIRE(std::memcmp(c.data(), c512.data(), c.size() * sizeof(float)) == 0);
      }
    });
  }
  if (!test::cpu_has_avx512()) std::printf("AVX2 GEMM checked against the double loop only (no AVX-512 here to compare bitwise)\n");
}

// An fc layer over a batch of 8 multiplies operands bigger than the caches (kernels/gemm_avx512.h):
// its weight gradient writes C row panel by row panel (by streaming stores when C is 64-byte
// aligned and beta is 0), its forward and backward-data prefetch B's rows. These routes must give
// the same bits as the cached ones: a product cut into pieces under the threshold, rows or columns
// apart, takes the cached route, and each element's arithmetic is the same either way.
TEST_CASE("cpu gemm: operands in memory take the streaming and prefetching routes with the cached routes' bits") {
  struct Kernels {
    const char* name;
    void (*packed)(int, int, int, const float*, const float*, int, float, float*, int);
    void (*nt)(int, int, int, const float*, int, const float*, int, float, float*, int);
  };
  std::vector<Kernels> sets;
  if (test::cpu_has_avx512()) sets.push_back({"avx512", cpu::avx512::gemm_packed, cpu::avx512::gemm_nt});
  if (test::cpu_has_avx2_fma()) sets.push_back({"avx2", cpu::avx2::gemm_packed, cpu::avx2::gemm_nt});
  if (sets.empty()) {
    std::printf("skipped (no AVX2+FMA on this CPU): our GEMM kernels\n");
    return;
  }
  // C (m x n) inside a 64-byte aligned buffer, offset by `shift` floats (1: no streaming stores).
  struct Aligned {
    std::vector<float> buf;
    float* c;
    Aligned(size_t n, int shift, const std::vector<float>& init) : buf(n + 32) {
      c = buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64) / sizeof(float) + shift;
      std::copy(init.begin(), init.end(), c);
    }
  };
  const int m = 1030, n = 1040, k = 9;  // C: 4.3 MB, k short; 1030 = 128 panels + 6 rows
  REQUIRE(cpu::avx512::c_in_memory(m, n, k));
  const auto a = test::randn((size_t)m * k, 41), b = test::randn((size_t)k * n, 42), c0 = test::randn((size_t)m * n, 43);
  std::vector<float> packed(cpu::avx512::packed_a_floats(m, k));
  cpu::avx512::pack_a(false, m, k, a.data(), k, packed.data());
  std::vector<float> first;  // the first kernel set's C, which the others must equal bit for bit
  for (const Kernels& ks : sets)
    for (float beta : {0.0f, 0.5f})
      for (int shift : {0, 1}) {
        INFO(ks.name, " C in memory, beta ", beta, " shift ", shift);
        Aligned got((size_t)m * n, shift, c0);
        ks.packed(m, n, k, packed.data(), b.data(), n, beta, got.c, n);
        std::vector<float> want = c0;  // 8 row panels at a time: 8 x 64 x 1040 floats, cached
        for (int i0 = 0; i0 < m; i0 += 64) {
          REQUIRE(!cpu::avx512::c_in_memory(std::min(64, m - i0), n, k));
          ks.packed(std::min(64, m - i0), n, k, packed.data() + (size_t)i0 * k, b.data(), n, beta, want.data() + (size_t)i0 * n, n);
        }
        CHECK(std::memcmp(got.c, want.data(), want.size() * sizeof(float)) == 0);
        std::vector<double> ref, abs;
        reference(false, false, {m, n, k}, a, b, c0, beta, ref, abs);
        test::check_bound(std::string(ks.name) + " C in memory", std::vector<float>(got.c, got.c + (size_t)m * n), ref, abs,
                          test::gamma_n(k + 1));
        if (beta == 0.0f && shift == 0) {
          if (first.empty()) first = want;
          CHECK(std::memcmp(got.c, first.data(), first.size() * sizeof(float)) == 0);
        }
      }
  // B in memory: 5 and 8 rows of A times a 600 x 1810 B (4.3 MB), op(A) B and A B^T.
  for (int rows : {5, 8}) {
    const int kb = 600, nb = 1810;
    REQUIRE(cpu::avx512::b_in_memory(rows, nb, kb));
    const auto x = test::randn((size_t)rows * kb, 44), w = test::randn((size_t)kb * nb, 45), y0 = test::randn((size_t)rows * nb, 46);
    std::vector<float> px(cpu::avx512::packed_a_floats(rows, kb));
    cpu::avx512::pack_a(false, rows, kb, x.data(), kb, px.data());
    std::vector<float> firsts[2];
    for (const Kernels& ks : sets) {
      INFO(ks.name, " B in memory, rows ", rows);
      std::vector<float> got[2] = {y0, y0}, want[2] = {y0, y0};
      ks.packed(rows, nb, kb, px.data(), w.data(), nb, 1.0f, got[0].data(), nb);
      ks.nt(rows, nb, kb, x.data(), kb, w.data(), kb, 1.0f, got[1].data(), nb);  // w read as nb x kb
      for (int j0 = 0; j0 < nb; j0 += 480) {  // 600 x 480 and 480 x 600 pieces: 1.1 MB, cached
        const int nc = std::min(480, nb - j0);
        REQUIRE(!cpu::avx512::b_in_memory(rows, nc, kb));
        ks.packed(rows, nc, kb, px.data(), w.data() + j0, nb, 1.0f, want[0].data() + j0, nb);
        ks.nt(rows, nc, kb, x.data(), kb, w.data() + (size_t)j0 * kb, kb, 1.0f, want[1].data() + j0, nb);
      }
      for (int t = 0; t < 2; ++t) {
        CHECK(std::memcmp(got[t].data(), want[t].data(), want[t].size() * sizeof(float)) == 0);
        if (firsts[t].empty()) firsts[t] = got[t];
        CHECK(std::memcmp(got[t].data(), firsts[t].data(), got[t].size() * sizeof(float)) == 0);
      }
      std::vector<double> ref, abs;
      reference(false, false, {rows, nb, kb}, x, w, y0, 1.0f, ref, abs);
      test::check_bound(std::string(ks.name) + " B in memory", got[0], ref, abs, test::gamma_n(kb + 1));
      reference(false, true, {rows, nb, kb}, x, w, y0, 1.0f, ref, abs);
      test::check_bound(std::string(ks.name) + " B in memory, A B^T", got[1], ref, abs, test::gamma_n(kb + 1));
    }
  }
}
