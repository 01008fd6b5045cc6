// The shapes and inputs shared by a family's CPU tests and the backend table (test_backend_ops.cpp),
// so that the GPU is checked on every geometry the CPU twin is.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "analysis/match/match.h"
#include "kernels/conv.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/rng.h"
#include "tests/check.h"

namespace cvg::test {

// ---- loss
// Labels uniform over [0, c).
inline std::vector<int32_t> labels_for(int n, int c, uint64_t seed) {
  std::vector<int32_t> l(n);
  for (int i = 0; i < n; ++i) l[i] = (int32_t)(rng_uniform(seed, 0x1abe1, i) * c);
  return l;
}

// ---- conv
inline ConvGeom conv_geom(int n, int c, int h, int w, int k, int kh, int kw, int stride, int pad, int groups) {
  ConvGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.k = k, g.kh = kh, g.kw = kw, g.stride = stride, g.pad = pad, g.groups = groups;
  return g;
}

inline std::string conv_name(const ConvGeom& g) {
  return std::to_string(g.n) + "x" + std::to_string(g.c) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) + " k" +
         std::to_string(g.k) + " " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + " s" + std::to_string(g.stride) + " p" +
         std::to_string(g.pad) + " g" + std::to_string(g.groups);
}

// Small geometries covering every path of both twins.
inline std::vector<ConvGeom> small_conv_geoms() {
  return {
      conv_geom(2, 3, 7, 6, 4, 3, 3, 1, 1, 1),    // plain 3x3 pad 1, non-square input
      conv_geom(3, 4, 9, 11, 6, 3, 2, 2, 1, 2),   // kh != kw, stride 2, groups 2
      conv_geom(2, 6, 5, 4, 6, 1, 1, 1, 0, 3),    // 1x1 (the no-im2col path), groups 3
      conv_geom(2, 3, 7, 7, 2, 1, 1, 2, 0, 1),    // 1x1 with stride: im2col again
      conv_geom(2, 2, 10, 13, 3, 4, 3, 3, 2, 1),  // stride 3, pad 2
      conv_geom(2, 4, 9, 9, 4, 2, 2, 4, 0, 2),    // stride > kernel: some inputs unused, dx must be 0 there
      conv_geom(5, 1, 8, 8, 3, 5, 5, 1, 2, 1),    // 5x5 pad 2 on one channel
      conv_geom(20, 2, 6, 6, 2, 3, 3, 1, 1, 1),   // more images than weight chunks (16): chunks of 1-2
      conv_geom(1, 2, 3, 3, 2, 5, 5, 1, 1, 1),    // kernel as large as the padded input: 1x1 output
      conv_geom(40, 4, 6, 6, 6, 3, 3, 1, 1, 2),   // 36 positions: 2-3 images per backward-weights GEMM, groups 2
      conv_geom(40, 6, 5, 4, 6, 1, 1, 1, 0, 3),   // the same for 1x1 (inputs copied side by side), groups 3
  };
}

// Longest float sums in the twins (CPU and CUDA alike), for gamma(N):
//  forward: the patch dot product (ckk terms), then + bias;
//  backward-data: W^T dy over the group's filters (kg terms), then col2im adds <= kh*kw of those;
//  backward-weights/bias: over the batch's positions (n*P terms), as chunk or split partials.
struct ConvSumLengths {
  double fwd, bd, bw;
};
inline ConvSumLengths conv_sum_lengths(const ConvGeom& g) {
  const double ckk = (double)g.c / g.groups * g.kh * g.kw, kg = (double)g.k / g.groups;
  return {ckk + 1, kg + g.kh * g.kw, (double)g.n * g.out_h() * g.out_w() + 16};
}

// ---- pool
inline PoolGeom pool_geom(int n, int c, int h, int w, int k, int s, int pad) {
  PoolGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.kernel = k, g.stride = s, g.pad = pad;
  return g;
}

// The geometries under test: CaffeNet's three 3x3/2 pools (55 -> 27 -> 13 -> 6, the ceil rule
// matters at 13), padded windows, odd sizes with ragged last windows, stride == kernel, overlap,
// stride > kernel (inputs no window reads; a last window past the image dropped).
inline std::vector<PoolGeom> pool_geometries() {
  return {pool_geom(2, 3, 55, 55, 3, 2, 0), pool_geom(2, 3, 27, 27, 3, 2, 0), pool_geom(2, 4, 13, 13, 3, 2, 0),
          pool_geom(2, 3, 7, 9, 3, 2, 1),   pool_geom(1, 2, 5, 7, 2, 2, 0),   pool_geom(2, 2, 10, 11, 3, 3, 0),
          pool_geom(1, 3, 4, 5, 2, 1, 1),   pool_geom(1, 2, 6, 6, 3, 2, 0),   pool_geom(3, 1, 9, 8, 4, 3, 2),
          pool_geom(1, 2, 5, 5, 1, 3, 0),   pool_geom(2, 2, 7, 8, 2, 3, 1)};
}

// Small integers: many ties inside each window.
inline std::vector<float> tie_heavy(size_t n, uint64_t seed) {
  auto v = randu(n, seed, 0.0f, 4.0f);
  for (float& e : v) e = std::floor(e);
  return v;
}

// ---- lrn
struct LrnCase {
  LrnGeom g;
  float sigma;  // std of the input: large enough that the normalisation is visibly nonlinear
  const char* name;
};

inline LrnGeom lrn_geom(int n, int c, int h, int w, int size, float alpha, float beta, float k) {
  LrnGeom g;
  g.n = n, g.c = c, g.h = h, g.w = w, g.size = size, g.alpha = alpha, g.beta = beta, g.k = k;
  return g;
}

// CaffeNet's constants (on inputs of the size conv1/conv2 produce, so alpha/size * sum x^2 ~ 0.1),
// a large alpha with size 3, an even size (the backward window is then the mirror of forward's),
// windows wider than the channel count, and 9x11 planes (more than one 64-pixel block).
inline std::vector<LrnCase> lrn_cases() {
  return {{lrn_geom(2, 16, 5, 7, 5, 1e-4f, 0.75f, 1.0f), 30.0f, "caffenet size 5"},
          {lrn_geom(2, 7, 9, 11, 3, 1.0f, 0.75f, 2.0f), 1.0f, "size 3 alpha 1"},
          {lrn_geom(1, 9, 3, 4, 4, 0.5f, 0.6f, 1.0f), 1.0f, "even size 4"},
          {lrn_geom(2, 3, 2, 3, 5, 2.0f, 0.75f, 1.0f), 1.0f, "size 5 > 3 channels"},
          {lrn_geom(2, 1, 3, 3, 5, 2.0f, 0.75f, 1.0f), 1.0f, "size 5, one channel"}};
}

// ---- assign
struct AssignCase {
  std::string name;
  int n, m;
  std::vector<double> M;
};

inline std::vector<double> ints(int n, int m, int levels, uint64_t seed) {
  std::vector<double> M((size_t)n * m);
  for (size_t k = 0; k < M.size(); ++k) M[k] = (double)(rng_bits(seed, 11, k) % (uint64_t)levels);
  return M;
}

// Random, structured and adversarial matrices. `big` adds the n ~ 1000 ones.
inline std::vector<AssignCase> assign_cases(bool big) {
  std::vector<AssignCase> c;
  auto add = [&](std::string name, int n, int m, std::vector<double> M) { c.push_back({name, n, m, std::move(M)}); };
  add("uniform 256", 256, 256, synthetic_matrix(MatrixKind::Uniform, 256, 256, 1));
  add("correlation 384", 384, 384, synthetic_matrix(MatrixKind::Correlation, 384, 384, 2));
  add("rectangular 150x400", 150, 400, synthetic_matrix(MatrixKind::Correlation, 150, 400, 3));
  add("rectangular 400x150", 400, 150, synthetic_matrix(MatrixKind::Uniform, 400, 150, 4));
  add("one row 1x300", 1, 300, synthetic_matrix(MatrixKind::Uniform, 1, 300, 5));
  add("one column 300x1", 300, 1, synthetic_matrix(MatrixKind::Uniform, 300, 1, 6));
  add("all ties 200", 200, 200, std::vector<double>(200 * 200, 0.25));
  add("all ties 90x210", 90, 210, std::vector<double>(90 * 210, -3.0));
  {
    std::vector<double> M(256 * 256);  // constant rows: every matching is optimal
    for (int i = 0; i < 256; ++i)
      for (int j = 0; j < 256; ++j) M[i * 256 + j] = std::sin((double)i);
    add("constant rows 256", 256, 256, M);
    for (int i = 0; i < 256; ++i)
      for (int j = 0; j < 256; ++j) M[i * 256 + j] = std::cos((double)j);
    add("constant columns 256", 256, 256, M);
  }
  {
    std::vector<double> M = synthetic_matrix(MatrixKind::Uniform, 200, 200, 7);
    M[37 * 200 + 150] = 1e9;  // one huge entry swamps the quantisation step
    add("one huge entry 200", 200, 200, M);
  }
  {
    std::vector<double> M = synthetic_matrix(MatrixKind::Correlation, 300, 300, 8);
    for (double& x : M) x = -5 - 3 * x;
    add("negative 300", 300, 300, M);
  }
  add("few distinct values 300", 300, 300, ints(300, 300, 3, 9));
  add("few distinct values 120x250", 120, 250, ints(120, 250, 4, 10));
  {
    std::vector<double> M = synthetic_matrix(MatrixKind::Uniform, 256, 256, 11);
    for (double& x : M) x = 1e6 + x * 1e-3;  // large offset, small spread
    add("offset 1e6 256", 256, 256, M);
  }
  if (big) {
    add("uniform 1024", 1024, 1024, synthetic_matrix(MatrixKind::Uniform, 1024, 1024, 12));
    add("correlation 1024", 1024, 1024, synthetic_matrix(MatrixKind::Correlation, 1024, 1024, 13));
    add("rectangular 700x1024", 700, 1024, synthetic_matrix(MatrixKind::Correlation, 700, 1024, 14));
  }
  return c;
}

// ---- stats
// Float32 products summed over runs of at most 2048 samples (CPU; 256 on the GPU) before float64:
// the rounding error of one run is about eps32*sqrt(run)*sum|products| ~ 3e-6 relative to the
// absolute sum (random-walk), far below the deterministic worst case run*eps32 ~ 1.2e-4. 2e-5 is
// 5x the typical error and catches any wrong term (which costs O(1) relative).
constexpr double kCrossRtol = 2e-5;

struct CrossCase {
  int n, ca, cb, hw;
};
// Odd sizes: partial 64-tiles, runs crossing image boundaries (K = 4500 > 2048), fc (hw = 1),
// maps smaller than a 16-sample GPU tile (hw = 3, 9),
// one-split and many-split GPU launches.
inline const CrossCase kCrossCases[] = {{3, 70, 65, 1500},  {37, 5, 3, 1},      {300, 130, 67, 1},
                                        {4, 130, 130, 200}, {25, 130, 17, 300}, {1, 1, 1, 1},
                                        {40, 20, 30, 9},    {7, 66, 70, 3},     {2000, 9, 7, 3}};

// ReLU-like values with exact zeros and a few values sitting exactly on an edge.
inline std::vector<float> relu_data(size_t count, uint64_t seed) {
  auto v = randn(count, seed, 1.0f, 0.2f);
  for (float& x : v) x = x < 0 ? 0.0f : x;
  return v;
}

// Ascending interior bin edges [c, bins - 2] per unit.
inline std::vector<float> edges_for(int c, int bins, uint64_t seed) {
  std::vector<float> e((size_t)c * (bins - 2));
  for (int u = 0; u < c; ++u) {
    auto r = randu(bins - 2, seed + u, 0.05f, 2.0f);
    std::sort(r.begin(), r.end());
    std::copy(r.begin(), r.end(), e.begin() + (size_t)u * (bins - 2));
  }
  return e;
}

}  // namespace cvg::test
