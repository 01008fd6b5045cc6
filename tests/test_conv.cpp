// Convolution: CPU twin vs a naive double loop over every (image, filter, position, tap) term,
// finite-difference gradients, adjoint identities, determinism, and the CUDA twin vs the CPU twin.
// Tolerances are the rounding bounds of tests/bounds.h, with N the longest float sum in the kernel.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>

#include "kernels/conv.h"
#include "nn/tensor.h"
#include "tests/bounds.h"
#include "tests/check.h"
#include "tests/grad_check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

using VD = std::vector<double>;

struct Ref {
  VD y, dx, dw, db;  // y = conv(x, w) + b, and the gradients of <dy, y>
};

// Every term x[b][c][iy][ix] * w[o][ci][i][j] of the convolution, visited once, in double.
Ref naive_conv(const ConvGeom& g, const VD& x, const VD& w, const VD& b, const VD& dy) {
  const int oh = g.out_h(), ow = g.out_w(), cg = g.c / g.groups, kg = g.k / g.groups;
  Ref r{VD(g.y_size()), VD(g.x_size(), 0.0), VD(g.w_size(), 0.0), VD(g.k, 0.0)};
  for (int n = 0; n < g.n; ++n)
    for (int o = 0; o < g.k; ++o) {
      const int grp = o / kg;
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox) {
          const size_t yi = (((size_t)n * g.k + o) * oh + oy) * ow + ox;
          const double d = dy[yi];
          double s = b.empty() ? 0.0 : b[o];
          for (int ci = 0; ci < cg; ++ci) {
            const int c = grp * cg + ci;
            for (int i = 0; i < g.kh; ++i) {
              const int iy = oy * g.stride - g.pad + i;
              if (iy < 0 || iy >= g.h) continue;
              for (int j = 0; j < g.kw; ++j) {
                const int ix = ox * g.stride - g.pad + j;
                if (ix < 0 || ix >= g.w) continue;
                const size_t xi = (((size_t)n * g.c + c) * g.h + iy) * g.w + ix;
                const size_t wi = (((size_t)o * cg + ci) * g.kh + i) * g.kw + j;
                s += w[wi] * x[xi];
                r.dx[xi] += w[wi] * d;
                r.dw[wi] += d * x[xi];
              }
            }
          }
          r.y[yi] = s;
          r.db[o] += d;
        }
    }
  return r;
}

VD dbl(const std::vector<float>& v) { return {v.begin(), v.end()}; }
VD dabs(const std::vector<float>& v) {
  VD a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs((double)v[i]);
  return a;
}

struct Outputs {
  std::vector<float> y, dx, dw, db;
};
// Runs the CPU twin, outputs pre-filled with NaN so that "overwritten" is tested too.
Outputs run_cpu(const ConvGeom& g, const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                const std::vector<float>& dy) {
  Outputs o{std::vector<float>(g.y_size(), NAN), std::vector<float>(g.x_size(), NAN), std::vector<float>(g.w_size(), NAN),
            std::vector<float>(g.k, NAN)};
  std::vector<float> ws(cpu::conv_workspace_floats(g), NAN);
  cpu::conv_forward(g, x.data(), w.data(), b.empty() ? nullptr : b.data(), o.y.data(), ws.data());
  cpu::conv_backward_data(g, dy.data(), w.data(), o.dx.data(), ws.data());
  cpu::conv_backward_weights(g, x.data(), dy.data(), o.dw.data(), o.db.data(), ws.data());
  return o;
}

void check_against_naive(const ConvGeom& g, uint64_t seed, bool with_bias) {
  auto x = test::randn(g.x_size(), seed), w = test::randn(g.w_size(), seed + 1),
       b = with_bias ? test::randn(g.k, seed + 2) : std::vector<float>{}, dy = test::randn(g.y_size(), seed + 3);
  const Outputs got = run_cpu(g, x, w, b, dy);
  const Ref want = naive_conv(g, dbl(x), dbl(w), dbl(b), dbl(dy));
  const Ref abs = naive_conv(g, dabs(x), dabs(w), dabs(b), dabs(dy));
  const test::ConvSumLengths L = test::conv_sum_lengths(g);
  test::check_bound("forward", got.y, want.y, abs.y, test::gamma_n(L.fwd));
  test::check_bound("backward data", got.dx, want.dx, abs.dx, test::gamma_n(L.bd));
  test::check_bound("backward weights", got.dw, want.dw, abs.dw, test::gamma_n(L.bw));
  test::check_bound("backward bias", got.db, want.db, abs.db, test::gamma_n(L.bw));
}

}  // namespace

TEST_CASE("conv: CPU twin matches a naive loop (strides, pads, groups, kh != kw, batches)") {
  uint64_t seed = 100;
  for (const auto& g : test::small_conv_geoms()) {
    CAPTURE(test::conv_name(g));
    check_against_naive(g, seed += 10, true);
    check_against_naive(g, seed += 10, false);
  }
}

TEST_CASE("conv: CPU twin matches a naive loop on CaffeNet conv1 and conv2 shapes") {
  SUBCASE("conv1: 227x227x3 -> 96 11x11 stride 4") {
    check_against_naive(test::conv_geom(1, 3, 227, 227, 96, 11, 11, 4, 0, 1), 7, true);
  }
  SUBCASE("conv2: 27x27x96 -> 256 5x5 pad 2 group 2") {
    check_against_naive(test::conv_geom(1, 96, 27, 27, 256, 5, 5, 1, 2, 2), 8, true);
  }
  SUBCASE("288 im2col rows (backward-data folds them 256 at a time), 4 images side by side") {
    check_against_naive(test::conv_geom(4, 32, 7, 7, 8, 3, 3, 1, 1, 1), 9, true);
  }
}

TEST_CASE("conv: gradients match central differences of a double naive forward") {
  for (const auto& g : test::small_conv_geoms()) {
    if (g.n > 5) continue;  // the batch-heavy geometry adds nothing here but time
    CAPTURE(test::conv_name(g));
    auto x = test::randn(g.x_size(), 1), w = test::randn(g.w_size(), 2), b = test::randn(g.k, 3), r = test::randn(g.y_size(), 4);
    const Outputs got = run_cpu(g, x, w, b, r);  // analytic gradients of L = <r, y> (dy = r)
    const Ref abs = naive_conv(g, dabs(x), dabs(w), dabs(b), dabs(r));
    VD xd = dbl(x), wd = dbl(w), bd = dbl(b), rd = dbl(r);
    auto loss = [&]() {
      const VD y = naive_conv(g, xd, wd, bd, rd).y;
      double L = 0;
      for (size_t i = 0; i < y.size(); ++i) L += rd[i] * y[i];
      return L;
    };
    // L is linear in each variable, so the central difference is exact up to double rounding
    // (~1e-16 |L| / h, covered by atol 1e-9); the float gradient is within its rounding bound.
    const test::ConvSumLengths L = test::conv_sum_lengths(g);
    std::vector<test::GradVar<double>> vars{{"x", &xd, got.dx, 1e-3, test::gamma_n(L.bd), 1e-9, abs.dx},
                                            {"w", &wd, got.dw, 1e-3, test::gamma_n(L.bw), 1e-9, abs.dw},
                                            {"b", &bd, got.db, 1e-3, test::gamma_n(L.bw), 1e-9, abs.db}};
    test::check_gradients<double>(loss, vars, {60, 0});  // ~60 coordinates per tensor
  }
}

TEST_CASE("conv: adjoint identities <dy, conv(x)> = <conv_backward_data(dy), x> and likewise for w") {
  for (const auto& g : test::small_conv_geoms()) {
    CAPTURE(test::conv_name(g));
    auto x = test::randn(g.x_size(), 5), w = test::randn(g.w_size(), 6), dy = test::randn(g.y_size(), 7);
    const Outputs o = run_cpu(g, x, w, {}, dy);  // no bias: the map x -> y is linear
    double lhs = 0, rhs_x = 0, rhs_w = 0;
    for (size_t i = 0; i < dy.size(); ++i) lhs += (double)dy[i] * o.y[i];
    for (size_t i = 0; i < x.size(); ++i) rhs_x += (double)o.dx[i] * x[i];
    for (size_t i = 0; i < w.size(); ++i) rhs_w += (double)o.dw[i] * w[i];
    // Both sides sum the same terms dy*w*x. Each float output is within gamma(N) * (its |.| sum),
    // so each side is within gamma(N) * S of the exact value, S = sum of |dy||w||x| over all terms.
    const Ref abs = naive_conv(g, dabs(x), dabs(w), {}, dabs(dy));
    double S = 0;
    for (size_t i = 0; i < dy.size(); ++i) S += std::fabs(dy[i]) * abs.y[i];
    const test::ConvSumLengths L = test::conv_sum_lengths(g);
    INFO("<dy, y> = ", lhs, ", <dx, x> = ", rhs_x, ", <dw, w> = ", rhs_w, ", S = ", S);
    CHECK(std::fabs(lhs - rhs_x) <= (test::gamma_n(L.fwd) + test::gamma_n(L.bd)) * S);
    CHECK(std::fabs(lhs - rhs_w) <= (test::gamma_n(L.fwd) + test::gamma_n(L.bw)) * S);
  }
}

TEST_CASE("conv: CPU twin is bit-identical run to run and for 1, 2 or 3 threads") {
  const ConvGeom g = test::conv_geom(37, 3, 12, 10, 8, 3, 3, 1, 1, 1);
  auto x = test::randn(g.x_size(), 41), w = test::randn(g.w_size(), 42), b = test::randn(g.k, 43),
       dy = test::randn(g.y_size(), 44);
  const int saved = omp_get_max_threads();
  std::vector<Outputs> runs;
  for (int t : {1, 2, 3, 3}) {
    omp_set_num_threads(t);
    runs.push_back(run_cpu(g, x, w, b, dy));
  }
  omp_set_num_threads(saved);
  for (size_t r = 1; r < runs.size(); ++r) {
    CAPTURE(r);
    CHECK(test::same_bits(runs[r].y, runs[0].y));
    CHECK(test::same_bits(runs[r].dx, runs[0].dx));
    CHECK(test::same_bits(runs[r].dw, runs[0].dw));
    CHECK(test::same_bits(runs[r].db, runs[0].db));
  }
}

TEST_CASE("conv: the workspace for a batch also covers every smaller batch (layers size it once)") {
  // ConvLayer and the deconvnet allocate conv_workspace_floats(g) at the largest batch, then run
  // batches of any n below it. Host-side arithmetic only: the CUDA twin's is checked without a GPU.
  std::vector<ConvGeom> gs = test::small_conv_geoms();
  gs.push_back(test::conv_geom(1, 384, 13, 13, 256, 3, 3, 1, 1, 2));  // CaffeNet conv5: filters outweigh im2col
  gs.push_back(test::conv_geom(1, 64, 4, 4, 64, 1, 1, 1, 0, 1));      // 1x1: no im2col, partials only
  struct Twin {
    const char* name;
    size_t (*floats)(const ConvGeom&);
  };
  std::vector<Twin> twins{{"cpu", cpu::conv_workspace_floats}};
#ifdef CONVERGENT_CUDA
  twins.push_back({"cuda", cuda::conv_workspace_floats});
#endif
  for (const Twin& t : twins)
    for (ConvGeom g : gs) {
      CAPTURE(std::string(t.name));
      CAPTURE(test::conv_name(g));
      int bad_max = 0, bad_n = 0;
      for (int nmax = 1; nmax <= 70 && !bad_max; ++nmax) {
        g.n = nmax;
        const size_t have = t.floats(g);
        for (int n = 1; n < nmax && !bad_max; ++n) {
          g.n = n;
          if (t.floats(g) > have) bad_max = nmax, bad_n = n;
        }
      }
      INFO("allocated for a batch of ", bad_max, ", too small for a batch of ", bad_n);
      CHECK(bad_max == 0);
    }
}

TEST_CASE("conv: bad geometry is a clear error, not a crash") {
  // The message names what is wrong, with the numbers.
  CHECK_THROWS_WITH_AS(cpu::conv_workspace_floats(test::conv_geom(1, 3, 8, 8, 4, 3, 3, 1, 0, 2)),
                       doctest::Contains("groups 2 must divide channels 3 and filters 4"), std::logic_error);
  CHECK_THROWS_WITH_AS(cpu::conv_workspace_floats(test::conv_geom(1, 2, 4, 4, 2, 7, 7, 1, 1, 1)),
                       doctest::Contains("kernel 7x7 larger than padded input 6x6"), std::logic_error);
  CHECK_THROWS_WITH_AS(cpu::conv_workspace_floats(test::conv_geom(1, 2, 4, 4, 2, 3, 3, 0, 1, 1)),
                       doctest::Contains("need stride >= 1"), std::logic_error);
}
