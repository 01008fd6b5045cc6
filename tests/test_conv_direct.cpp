// The convolution forward without im2col (kernels/conv_direct.h) against the route it replaces,
// built here from its parts: a naive im2col, our packed GEMM (the AVX2 kernel, bitwise the AVX-512
// one, called directly so that CONVERGENT_CPU_GEMM=openblas does not swap it) and the bias added after. The claim is bit equality, not closeness:
// the skipped taps only ever add w * 0 to a sum that is never -0. Scratch and outputs start as NaN,
// so anything read before it is written shows. The naive-loop tests of tests/test_conv.cpp reach
// this route through cpu::conv_forward wherever the GEMM runs on the AVX2 kernels.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "kernels/conv.h"
#include "kernels/conv_direct.h"
#include "kernels/gemm.h"
#include "kernels/gemm_avx2.h"
#include "kernels/gemm_avx512.h"
#include "tests/check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

// y by im2col + the packed GEMM, then + bias: the GEMM route's arithmetic on our kernels.
std::vector<float> gemm_route(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& b) {
  const int cg = g.c / g.groups, kg = g.k / g.groups, oh = g.out_h(), ow = g.out_w(), P = oh * ow, ckk = cg * g.kh * g.kw;
  std::vector<float> y(g.y_size()), col((size_t)ckk * P), packed(cpu::avx512::packed_a_floats(kg, ckk));
  for (int gr = 0; gr < g.groups; ++gr) {
    cpu::avx512::pack_a(false, kg, ckk, w.data() + (size_t)gr * kg * ckk, ckk, packed.data());
    for (int n = 0; n < g.n; ++n) {
      for (int c = 0; c < cg; ++c)
        for (int i = 0; i < g.kh; ++i)
          for (int j = 0; j < g.kw; ++j)
            for (int oy = 0; oy < oh; ++oy)
              for (int ox = 0; ox < ow; ++ox) {
                const int iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
                const bool in = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
                col[((size_t)(c * g.kh + i) * g.kw + j) * P + oy * ow + ox] =
                    in ? x[(((size_t)n * g.c + gr * cg + c) * g.h + iy) * g.w + ix] : 0.0f;
              }
      float* yn = y.data() + ((size_t)n * g.k + (size_t)gr * kg) * P;
      cpu::avx2::gemm_packed(kg, P, ckk, packed.data(), col.data(), P, 0.0f, yn, P);
      if (!b.empty())
        for (int o = 0; o < kg; ++o)
          for (int q = 0; q < P; ++q) yn[(size_t)o * P + q] = yn[(size_t)o * P + q] + b[gr * kg + o];
    }
  }
  return y;
}

}  // namespace

TEST_CASE("conv direct forward: bitwise the im2col GEMM route, in every tiling and padding case") {
  if (!test::cpu_has_avx2_fma()) {
    MESSAGE("no AVX2 + FMA on this CPU: the direct route is never taken here");
    return;
  }
  struct Case {
    std::string what;
    ConvGeom g;
  };
  const std::vector<Case> cases{
      {"alexnet-mini conv2 (5x5 pad 2, 4 blocks of 256 patch rows)", test::conv_geom(3, 32, 14, 14, 64, 5, 5, 1, 2, 1)},
      {"alexnet-mini conv3 (7x7, tiles across rows and images)", test::conv_geom(5, 64, 7, 7, 96, 3, 3, 1, 1, 1)},
      {"CaffeNet conv1 (11x11 stride 4, no pad)", test::conv_geom(1, 3, 227, 227, 96, 11, 11, 4, 0, 1)},
      {"CaffeNet conv2 shape, groups 2", test::conv_geom(1, 96, 27, 27, 256, 5, 5, 1, 2, 2)},
      {"16 filters: one 2-vector column tile", test::conv_geom(2, 8, 6, 5, 16, 3, 3, 1, 1, 1)},
      {"32 filters: 16 + 16", test::conv_geom(2, 8, 6, 5, 32, 3, 3, 1, 1, 1)},
      {"40 filters: 24 + 16, kh != kw, stride 2", test::conv_geom(3, 12, 9, 11, 40, 3, 2, 2, 1, 1)},
      {"pad 3 > kernel - 1: whole tiles read padding only", test::conv_geom(2, 16, 2, 3, 24, 2, 2, 1, 3, 1)},
      {"stride 3, pad 2, groups 3", test::conv_geom(2, 30, 10, 13, 48, 4, 3, 3, 2, 3)},
  };
  uint64_t seed = 900;
  for (const Case& s : cases) {
    CAPTURE(s.what);
    const ConvGeom& g = s.g;
    REQUIRE(cpu::DirectConv::fits(g));
    auto x = test::randn(g.x_size(), seed += 10), w = test::randn(g.w_size(), seed + 1), b = test::randn(g.k, seed + 2);
    for (bool bias : {true, false}) {
      CAPTURE(bias);
      const std::vector<float> none, want = gemm_route(g, x, w, bias ? b : none);
      // All images in one call, and calls of fewer images than planned for (a batch's last run).
      for (int per : {g.n, g.n + 2}) {
        CAPTURE(per);
        const cpu::DirectConv direct(g, per, w.data());
        std::vector<float> y(g.y_size(), NAN), ws(cpu::DirectConv::floats(g, per), NAN);
        direct.forward(x.data(), g.n, bias ? b.data() : nullptr, y.data(), ws.data());
        CHECK(test::same_bits(y, want));
      }
      // Whichever of our kernels conv_forward runs on (direct or GEMM), its bits are these.
      if (std::strcmp(cpu::gemm_kernels(), "openblas") != 0) {
        std::vector<float> y(g.y_size(), NAN), ws(cpu::conv_workspace_floats(g), NAN);
        cpu::conv_forward(g, x.data(), w.data(), bias ? b.data() : nullptr, y.data(), ws.data());
        CHECK(test::same_bits(y, want));
      }
    }
  }
}

TEST_CASE("conv direct forward: the route is not offered where it would be slower or cannot work") {
  CHECK_FALSE(cpu::DirectConv::fits(test::conv_geom(2, 1, 28, 28, 32, 5, 5, 1, 2, 1)));  // 25-long patches
  CHECK_FALSE(cpu::DirectConv::fits(test::conv_geom(2, 16, 8, 8, 8, 3, 3, 1, 1, 1)));    // 8 filters: 1-vector tiles
  CHECK_FALSE(cpu::DirectConv::fits(test::conv_geom(2, 64, 8, 8, 20, 3, 3, 1, 1, 1)));   // filters not 8k
  CHECK_FALSE(cpu::DirectConv::fits(test::conv_geom(2, 64, 8, 8, 64, 1, 1, 1, 0, 1)));   // 1x1: no im2col anyway
  CHECK(cpu::DirectConv::fits(test::conv_geom(2, 64, 8, 8, 64, 1, 1, 2, 0, 1)));         // 1x1 with stride
}
