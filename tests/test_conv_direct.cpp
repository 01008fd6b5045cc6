// The convolution forward without im2col (kernels/conv_direct.h) against the route it replaces,
// built here from its parts: a naive im2col, our packed GEMM (the AVX2 kernel, bitwise the AVX-512
// one, called directly so that CONVERGENT_CPU_GEMM=openblas does not swap it) and the bias added after. The claim is bit
// equality, not closeness: the skipped taps only ever add w * 0 to a sum that is never -0. Scratch and outputs start as NaN, so
// anything read before it is written shows. The naive-loop tests of tests/test_conv.cpp reach this route through
// cpu::conv_forward wherever it pays (kernels/conv_cpu.cpp: forward_direct).
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

struct Case {
  std::string what;
  ConvGeom g;
};

// The naive im2col: the input that patch row (c, i, j) of group gr sees at output q of image n, 0 in the padding.
float patch_value(const ConvGeom& g, const std::vector<float>& x, int n, int gr, int c, int i, int j, int q) {
  const int ow = g.out_w(), iy = q / ow * g.stride - g.pad + i, ix = q % ow * g.stride - g.pad + j;
  const bool in = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
  return in ? x[(((size_t)n * g.c + (size_t)gr * (g.c / g.groups) + c) * g.h + iy) * g.w + ix] : 0.0f;
}

// y by im2col + the packed GEMM, then + bias: the GEMM route's arithmetic on our kernels.
std::vector<float> gemm_route(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& b) {
  const int cg = g.c / g.groups, kg = g.k / g.groups, P = g.out_h() * g.out_w(), ckk = cg * g.kh * g.kw;
  std::vector<float> y(g.y_size()), col((size_t)ckk * P), packed(cpu::avx512::packed_a_floats(kg, ckk));
  for (int gr = 0; gr < g.groups; ++gr) {
    cpu::avx512::pack_a(false, kg, ckk, w.data() + (size_t)gr * kg * ckk, ckk, packed.data());
    for (int n = 0; n < g.n; ++n) {
      for (int c = 0; c < cg; ++c)
        for (int i = 0; i < g.kh; ++i)
          for (int j = 0; j < g.kw; ++j)
            for (int q = 0; q < P; ++q) col[((size_t)(c * g.kh + i) * g.kw + j) * P + q] = patch_value(g, x, n, gr, c, i, j, q);
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

namespace {

// dw by the GEMM route of conv_cpu.cpp's backward-weights, built from its parts: the batch in
// `partials` runs of consecutive images, each summed per_gemm images side by side at a time (a
// naive im2col and dy laid side by side, our packed GEMM with beta 0 for a partial's first call,
// then 1), the partials added in order.
std::vector<float> weights_gemm_route(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& dy, int partials,
                                      int per_gemm) {
  const int cg = g.c / g.groups, kg = g.k / g.groups, P = g.out_h() * g.out_w(), ckk = cg * g.kh * g.kw;
  std::vector<float> dw(g.w_size()), part(g.w_size());
  for (int pt = 0; pt < partials; ++pt) {
    const int first = g.n * pt / partials, last = g.n * (pt + 1) / partials;
    for (int img0 = first; img0 < last; img0 += per_gemm) {
      const int nb = std::min(per_gemm, last - img0), K = nb * P;
      for (int gr = 0; gr < g.groups; ++gr) {
        std::vector<float> colT((size_t)K * ckk), dyb((size_t)kg * K), packed(cpu::avx512::packed_a_floats(kg, K));
        for (int b = 0; b < nb; ++b)
          for (int q = 0; q < P; ++q) {
            for (int o = 0; o < kg; ++o) dyb[(size_t)o * K + b * P + q] = dy[((size_t)(img0 + b) * g.k + gr * kg + o) * P + q];
            for (int c = 0; c < cg; ++c)
              for (int i = 0; i < g.kh; ++i)
                for (int j = 0; j < g.kw; ++j)
                  colT[(size_t)(b * P + q) * ckk + (c * g.kh + i) * g.kw + j] = patch_value(g, x, img0 + b, gr, c, i, j, q);
          }
        cpu::avx512::pack_a(false, kg, K, dyb.data(), K, packed.data());
        cpu::avx2::gemm_packed(kg, ckk, K, packed.data(), colT.data(), ckk, img0 == first ? 0.0f : 1.0f,
                               part.data() + (size_t)gr * kg * ckk, ckk);
      }
    }
    for (size_t e = 0; e < dw.size(); ++e) dw[e] = pt == 0 ? part[e] : dw[e] + part[e];
  }
  return dw;
}

}  // namespace

TEST_CASE("conv direct backward-weights: bitwise the im2col GEMM route, in every tiling, block and partial case") {
  if (!test::cpu_has_avx2_fma()) {
    MESSAGE("no AVX2 + FMA on this CPU: the direct route is never taken here");
    return;
  }
  const std::vector<Case> cases{
      {"alexnet-mini conv2 at batch 40: calls of 2 and 1 images, 392 positions in blocks of 256",
       test::conv_geom(40, 32, 14, 14, 64, 5, 5, 1, 2, 1)},
      {"alexnet-mini conv5 (7x7: 6 images a call, 294 positions)", test::conv_geom(33, 96, 7, 7, 64, 3, 3, 1, 1, 1)},
      {"CaffeNet conv1 rows (11x11 stride 4, no pad; 1 image a call, 12 blocks)", test::conv_geom(2, 3, 227, 227, 96, 11, 11, 4, 0, 1)},
      {"groups 2, 40 filters each (tiles of 24 + 16), 50 taps (not a multiple of 4 or 6)",
       test::conv_geom(3, 4, 9, 8, 80, 5, 5, 1, 2, 2)},
      {"32 filters (16 + 16), kh != kw, stride 2", test::conv_geom(5, 12, 9, 11, 32, 3, 2, 2, 1, 1)},
      {"pad 3 > kernel - 1: positions that read padding only", test::conv_geom(4, 16, 2, 3, 48, 2, 2, 1, 3, 1)},
      {"stride 3, pad 2, groups 3", test::conv_geom(2, 30, 10, 13, 96, 4, 3, 3, 2, 3)},
  };
  uint64_t seed = 1900;
  for (const Case& s : cases) {
    CAPTURE(s.what);
    const ConvGeom& g = s.g;
    REQUIRE(cpu::DirectWeights::fits(g));
    auto x = test::randn(g.x_size(), seed += 10), dy = test::randn(g.y_size(), seed + 1);
    // The class alone, calls of 1, 2 and all images: the GEMM's sums over the same calls.
    for (int per : {1, 2, g.n}) {
      CAPTURE(per);
      const cpu::DirectWeights direct(g, per + 1);  // planned for more than it gets
      std::vector<float> ct(g.w_size(), NAN), ws(cpu::DirectWeights::floats(g, per + 1), NAN), dw(g.w_size(), NAN);
      for (int img0 = 0; img0 < g.n; img0 += per)
        direct.add(x.data() + (size_t)img0 * g.c * g.h * g.w, dy.data() + (size_t)img0 * g.k * g.out_h() * g.out_w(),
                   std::min(per, g.n - img0), img0 == 0, ct.data(), ws.data());
      direct.to_dw(ct.data(), dw.data());
      CHECK(test::same_bits(dw, weights_gemm_route(g, x, dy, 1, per)));
    }
    // The plan of conv_cpu.cpp: min(n, 16) partials, images side by side up to 256 positions.
    const int P = g.out_h() * g.out_w(), partials = std::min(g.n, 16);
    const int per_gemm = std::max(1, std::min((g.n + partials - 1) / partials, (256 + P - 1) / P));
    const std::vector<float> want = weights_gemm_route(g, x, dy, partials, per_gemm);
    // Whichever of our kernels conv_backward_weights runs on (direct or GEMM), its dw bits are these.
    if (std::strcmp(cpu::gemm_kernels(), "openblas") != 0) {
      std::vector<float> dw(g.w_size(), NAN), db(g.k, NAN), ws(cpu::conv_workspace_floats(g), NAN);
      cpu::conv_backward_weights(g, x.data(), dy.data(), dw.data(), db.data(), ws.data());
      CHECK(test::same_bits(dw, want));
    }
  }
}
