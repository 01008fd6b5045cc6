// Statistics family: moments against a float64 two-pass reference over millions of streamed
// samples, histograms and mutual information against naive loops, top-k against a full sort, and
// every CUDA entry point against the CPU twin.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "analysis/stats/moments.h"
#include "analysis/stats/mutual_info.h"
#include "kernels/gemm.h"
#include "kernels/rng.h"
#include "kernels/joint_hist_avx512.h"
#include "kernels/stats.h"
#include "nn/tensor.h"
#include "tests/check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

// ---- a stream of 4.2M samples: 64 batches of 16 images x 64x64 positions ------------------------
// Net A (16 units): ReLU units with ~50% exact zeros, units with mean ~100 x their std (float32
// cancellation), a constant unit, a dead unit, a unit that is zero in the first batch and then
// drifts (exercises recentring), a sparse unit with large values. Net B (12 units): copies of some
// A units, linear mixes, an independent unit, a constant. Net C: A with its channels permuted.
struct Stream {
  // On the emulated GPU (test::emu_scale) 2 batches, 131k samples: the same recentring and merging.
  static constexpr int n = 16, hw = 4096, batches = test::emu_scale(64, 2), ca = 16, cb = 12;
  static constexpr uint64_t seed = 2016;
  int perm[ca] = {5, 12, 0, 9, 14, 3, 7, 1, 15, 10, 2, 13, 6, 11, 4, 8};  // C[perm[u]] = A[u]
  float w[ca][4];                                                         // latent mixing weights

  Stream() {
    for (int u = 0; u < ca; ++u)
      for (int k = 0; k < 4; ++k) w[u][k] = std::cos(0.9f * u + 1.7f * k);
  }

  static float u16(uint64_t h, int k) { return (float)((h >> (16 * k)) & 0xffff) * (1.0f / 65536.0f); }

  void batch(int b, float* A, float* B, float* C) const {
    for (int i = 0; i < n; ++i) {
      for (int p = 0; p < hw; ++p) {
        const uint64_t g = (((uint64_t)b * n + i) * hw + p) * 8 + seed;
        float z[4], e[20];
        for (int t = 0; t < 2; ++t) {
          const uint64_t h = mix64(g + t);
          z[2 * t] = u16(h, 0) + u16(h, 1) - 1.0f, z[2 * t + 1] = u16(h, 2) + u16(h, 3) - 1.0f;
        }
        for (int t = 0; t < 5; ++t) {
          const uint64_t h = mix64(g + 2 + t);
          for (int k = 0; k < 4; ++k) e[4 * t + k] = u16(h, k) - 0.5f;
        }
        auto wz = [&](int u) { return w[u][0] * z[0] + w[u][1] * z[1] + w[u][2] * z[2] + w[u][3] * z[3]; };
        float a[ca], bb[cb];
        for (int u = 0; u < 6; ++u) a[u] = 3.0f * std::max(0.0f, wz(u) + 0.3f * e[u] - 0.25f * (u - 1));  // 30..95% zeros
        for (int u = 6; u < 12; ++u) a[u] = 100.0f + u + 0.5f * (wz(u) + 0.3f * e[u]);
        a[12] = 7.25f;
        a[13] = 0.0f;
        a[14] = b == 0 ? 0.0f : 50.0f + 0.2f * b + 0.5f * (z[0] + 0.3f * e[12]);
        a[15] = 1000.0f * std::max(0.0f, z[1] + 0.3f * e[13] - 0.45f);
        bb[0] = a[7], bb[1] = a[2], bb[2] = a[14], bb[3] = a[11];
        bb[4] = -2.0f * a[0] + 0.1f * e[14];
        bb[5] = a[6] - a[8] + 0.05f * e[15];
        bb[6] = std::max(0.0f, z[2] - z[3]);
        bb[7] = 0.5f * e[16];
        bb[8] = -3.5f;
        for (int j = 9; j < 12; ++j) bb[j] = (j - 7) * std::max(0.0f, wz(j) + e[j + 8] - 0.2f * (j - 10));
        for (int u = 0; u < ca; ++u) A[((size_t)i * ca + u) * hw + p] = a[u];
        for (int j = 0; j < cb; ++j) B[((size_t)i * cb + j) * hw + p] = bb[j];
      }
      for (int u = 0; u < ca; ++u)
        std::memcpy(&C[((size_t)i * ca + perm[u]) * hw], &A[((size_t)i * ca + u) * hw], sizeof(float) * hw);
    }
  }
};

// Float64 two-pass reference of A and B over the whole stream (C follows from A by permutation).
struct Reference {
  std::vector<double> mean, std, corr;  // over the 28 units of A then B; corr [28 x 28]
};

const Reference& reference() {
  static Reference ref = [] {
    const Stream s;
    const int U = Stream::ca + Stream::cb, hw = Stream::hw, n = Stream::n;
    std::vector<float> A((size_t)n * Stream::ca * hw), B((size_t)n * Stream::cb * hw), C(A.size());
    auto row = [&](int i, int u) -> const float* {
      return u < Stream::ca ? &A[((size_t)i * Stream::ca + u) * hw] : &B[((size_t)i * Stream::cb + u - Stream::ca) * hw];
    };
    Reference r;
    r.mean.assign(U, 0.0);
    for (int b = 0; b < Stream::batches; ++b) {  // pass 1: means
      s.batch(b, A.data(), B.data(), C.data());
      for (int i = 0; i < n; ++i)
        for (int u = 0; u < U; ++u)
          for (int p = 0; p < hw; ++p) r.mean[u] += row(i, u)[p];
    }
    const double N = (double)Stream::batches * n * hw;
    for (double& m : r.mean) m /= N;
    std::vector<double> P((size_t)U * U, 0.0), D((size_t)U * hw);
    for (int b = 0; b < Stream::batches; ++b) {  // pass 2: centred products
      s.batch(b, A.data(), B.data(), C.data());
      for (int i = 0; i < n; ++i) {
        for (int u = 0; u < U; ++u)
          for (int p = 0; p < hw; ++p) D[(size_t)u * hw + p] = (double)row(i, u)[p] - r.mean[u];
        for (int u = 0; u < U; ++u)  // serial: OpenMP regions per image cost more than they save here
          for (int v = u; v < U; ++v) {
            const double* x = &D[(size_t)u * hw];
            const double* y = &D[(size_t)v * hw];
            double t = 0;
#pragma omp simd reduction(+ : t)
            for (int p = 0; p < hw; ++p) t += x[p] * y[p];
            P[(size_t)u * U + v] += t;
          }
      }
    }
    r.std.resize(U);
    for (int u = 0; u < U; ++u) r.std[u] = std::sqrt(P[(size_t)u * U + u] / N);
    r.corr.assign((size_t)U * U, 0.0);
    for (int u = 0; u < U; ++u)
      for (int v = u; v < U; ++v) {
        const double d = r.std[u] * r.std[v];
        r.corr[(size_t)u * U + v] = r.corr[(size_t)v * U + u] = d > 0 ? P[(size_t)u * U + v] / N / d : 0.0;
      }
    return r;
  }();
  return ref;
}

LayerStats stream_through(const Device& dev) {
  const Stream s;
  const int n = Stream::n, hw = Stream::hw;
  std::vector<float> A((size_t)n * Stream::ca * hw), B((size_t)n * Stream::cb * hw), C(A.size());
  MomentAccumulator acc(dev, {Stream::ca, Stream::cb, Stream::ca});
  Array<float> dA(dev, A.size()), dB(dev, B.size()), dC(dev, C.size());
  for (int b = 0; b < Stream::batches; ++b) {
    s.batch(b, A.data(), B.data(), C.data());
    dA.from_host(A), dB.from_host(B), dC.from_host(C);
    acc.add_batch({dA.data(), dB.data(), dC.data()}, n, hw);
  }
  Moments m = acc.moments();
  CHECK(m.count == (double)Stream::batches * n * hw);
  return finalize(m);
}

// Checks every statistic against the reference; returns the worst normalised error (<= 1 passes).
// Tolerances (the ~1e-6 target): means and stds relative 1e-6 (atol 1e-9 for the zero mean of the
// dead unit), correlations absolute 1e-6 (they are bounded by 1).
double check_against_reference(const LayerStats& st) {
  const Reference& r = reference();
  const int ca = Stream::ca, cb = Stream::cb, U = ca + cb;
  const Stream s;
  double worst = 0;
  auto close = [&](double got, double want, double atol, double rtol) {
    const double e = std::fabs(got - want) / (atol + rtol * std::fabs(want));
    worst = std::max(worst, std::isnan(got) ? INFINITY : e);
    return e <= 1.0;
  };
  int bad = 0;
  for (int u = 0; u < U; ++u) {
    const int net = u < ca ? 0 : 1, k = u < ca ? u : u - ca;
    bad += !close(st.mean[net][k], r.mean[u], 1e-9, 1e-6);
    bad += !close(st.std[net][k], r.std[u], 1e-9, 1e-6);
    for (int v = 0; v < U; ++v) {
      const int net2 = v < ca ? 0 : 1, k2 = v < ca ? v : v - ca;
      double got;
      if (net == net2)
        got = st.within[net][(size_t)k * (net ? cb : ca) + k2];
      else if (net == 0)
        got = st.between[0][(size_t)k * cb + k2];
      else
        continue;  // B vs A is the transpose of A vs B
      bad += !close(got, r.corr[(size_t)u * U + v], 1e-6, 0.0);
    }
  }
  // Net C is A permuted: its stats are A's, permuted.
  for (int u = 0; u < ca; ++u) {
    bad += !close(st.mean[2][s.perm[u]], r.mean[u], 1e-9, 1e-6);
    bad += !close(st.std[2][s.perm[u]], r.std[u], 1e-9, 1e-6);
  }
  CHECK(bad == 0);
  return worst;
}

template <class V>
bool all_finite(const V& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

// Naive float64 cross-products of shifted float32 activations, and the scale sum |a'||b'| that
// bounds their rounding error.
void naive_cross(int n, int ca, int cb, int hw, const std::vector<float>& a, const std::vector<float>& ra,
                 const std::vector<float>& b, const std::vector<float>& rb, std::vector<double>& val,
                 std::vector<double>& scale) {
  val.assign((size_t)ca * cb, 0.0), scale.assign((size_t)ca * cb, 0.0);
  for (int i = 0; i < ca; ++i)
    for (int j = 0; j < cb; ++j)
      for (int img = 0; img < n; ++img)
        for (int p = 0; p < hw; ++p) {
          const double x = (double)a[((size_t)img * ca + i) * hw + p] - ra[i];
          const double y = (double)b[((size_t)img * cb + j) * hw + p] - rb[j];
          val[(size_t)i * cb + j] += x * y, scale[(size_t)i * cb + j] += std::fabs(x * y);
        }
}

// max_e |got - want| / (rtol * scale_e): the normalised error against a bound relative to scale.
double scaled_error(const std::vector<double>& got, const std::vector<double>& want, const std::vector<double>& scale,
                    double rtol) {
  double w = 0;
  for (size_t e = 0; e < want.size(); ++e) {
    const double err = std::fabs(got[e] - want[e]) / (rtol * scale[e] + 1e-30);
    w = std::max(w, std::isnan(got[e]) ? INFINITY : err);
  }
  return w;
}

std::vector<float> shifted_randn(size_t count, uint64_t seed, float mean, float std) {
  return test::randn(count, seed, std, mean);
}

}  // namespace

TEST_CASE("stats: 4.2M streamed samples match a float64 two-pass reference (CPU)") {
  LayerStats st = stream_through(Device::cpu());
  double worst = check_against_reference(st);
  MESSAGE("worst normalised error vs float64 two-pass: ", worst);
  // Zero-variance units are flagged and give no NaN: A12 (constant 7.25), A13 (dead), B8 (constant).
  CHECK(st.zero_variance[0] == std::vector<int>{12, 13});
  CHECK(st.zero_variance[1] == std::vector<int>{8});
  for (auto& v : st.within) CHECK(all_finite(v));
  for (auto& v : st.between) CHECK(all_finite(v));
  CHECK(st.within[0][12 * 16 + 12] == 0.0);

  // A vs A: exactly symmetric, unit diagonal on live units.
  const int ca = Stream::ca;
  for (int i = 0; i < ca; ++i) {
    const bool live = i != 12 && i != 13;
    CHECK(st.within[0][i * ca + i] == (live ? 1.0 : 0.0));
    for (int j = 0; j < ca; ++j) CHECK(st.within[0][i * ca + j] == st.within[0][j * ca + i]);
  }
  // A vs its channel-permuted copy C: between(A, C)[i, perm[j]] = within(A)[i, j], so matched pairs
  // are 1.0 and every live row's best partner is its planted match.
  const Stream s;
  const std::vector<double>& AC = st.between[1];  // pair (0, 2)
  for (int i = 0; i < ca; ++i) {
    const bool live = i != 12 && i != 13;
    CHECK(std::fabs(AC[i * ca + s.perm[i]] - (live ? 1.0 : 0.0)) <= 1e-6);
    for (int j = 0; j < ca; ++j) CHECK(std::fabs(AC[i * ca + s.perm[j]] - st.within[0][i * ca + j]) <= 1e-6);
    if (live) CHECK(std::max_element(&AC[i * ca], &AC[i * ca + ca]) - &AC[i * ca] == s.perm[i]);
  }
  // B copies A units exactly: correlation 1 on those pairs (A7-B0, A2-B1, A14-B2, A11-B3).
  const std::vector<double>& AB = st.between[0];
  CHECK(std::fabs(AB[7 * 12 + 0] - 1.0) <= 1e-6);
  CHECK(std::fabs(AB[2 * 12 + 1] - 1.0) <= 1e-6);
  CHECK(std::fabs(AB[14 * 12 + 2] - 1.0) <= 1e-6);
  CHECK(std::fabs(AB[11 * 12 + 3] - 1.0) <= 1e-6);
}

TEST_CASE("stats: CPU moments are bit-identical on 1 and 2 threads") {
  // Two threads share the stacked runs and row blocks (kernels/stats.h: accumulate_stacked), one
  // thread runs them in turn: every sum must come out the same.
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const LayerStats one = stream_through(Device::cpu());
  omp_set_num_threads(2);
  const LayerStats two = stream_through(Device::cpu());
  omp_set_num_threads(before);
  CHECK(one.mean == two.mean);
  CHECK(one.std == two.std);
  CHECK(one.within == two.within);
  CHECK(one.between == two.between);
}

TEST_CASE("stats: 4.2M streamed samples match a float64 two-pass reference (GPU)") {
  if (!test::gpu_or_skip()) return;
  LayerStats st = stream_through(Device{Device::CUDA, 0});
  double worst = check_against_reference(st);
  test::record_gpu_result("stats_stream_vs_float64", worst);
  CHECK(st.zero_variance[0] == std::vector<int>{12, 13});
  CHECK(st.zero_variance[1] == std::vector<int>{8});
}

TEST_CASE("stats: cross-products, Gram and sums match naive float64 loops") {
  for (const test::CrossCase& c : test::kCrossCases) {
    CAPTURE(c.n);
    CAPTURE(c.ca);
    CAPTURE(c.cb);
    CAPTURE(c.hw);
    auto a = shifted_randn((size_t)c.n * c.ca * c.hw, 11, 30.0f, 2.0f);
    auto b = shifted_randn((size_t)c.n * c.cb * c.hw, 12, -5.0f, 0.5f);
    auto ra = test::randu(c.ca, 13, 29, 31), rb = test::randu(c.cb, 14, -6, -4);
    std::vector<double> want, scale;
    naive_cross(c.n, c.ca, c.cb, c.hw, a, ra, b, rb, want, scale);
    std::vector<double> got((size_t)c.ca * c.cb, 1.0);  // accumulates onto what is there
    std::vector<char> scratch(cpu::cross_scratch_bytes(c.n, c.ca, c.cb, c.hw));
    cpu::accumulate_cross(c.n, c.ca, c.cb, c.hw, a.data(), ra.data(), b.data(), rb.data(), scratch.data(), got.data());
    for (double& g : got) g -= 1.0;
    CHECK(scaled_error(got, want, scale, test::kCrossRtol) <= 1.0);

    naive_cross(c.n, c.ca, c.ca, c.hw, a, ra, a, ra, want, scale);
    std::vector<double> gram((size_t)c.ca * c.ca, 0.0);
    scratch.resize(cpu::gram_scratch_bytes(c.n, c.ca, c.hw));
    std::vector<double> gsum(c.ca, 0.0), gsq(c.ca, 0.0);
    cpu::accumulate_gram(c.n, c.ca, c.hw, a.data(), ra.data(), scratch.data(), gram.data(), gsum.data(), gsq.data());
    CHECK(scaled_error(gram, want, scale, test::kCrossRtol) <= 1.0);
    bool symmetric = true;
    for (int i = 0; i < c.ca; ++i)
      for (int j = 0; j < c.ca; ++j) symmetric &= gram[i * c.ca + j] == gram[j * c.ca + i];
    CHECK(symmetric);

    // Sums: float32 differences added in float64, so only the differences round (eps32 each).
    std::vector<double> sums(c.ca, 0.0), want_sums(c.ca, 0.0), abs_sums(c.ca, 0.0);
    for (int u = 0; u < c.ca; ++u)
      for (int img = 0; img < c.n; ++img)
        for (int p = 0; p < c.hw; ++p) {
          const double x = (double)a[((size_t)img * c.ca + u) * c.hw + p] - ra[u];
          want_sums[u] += x, abs_sums[u] += std::fabs(x);
        }
    std::vector<double> sq(c.ca, 0.0), want_sq(c.ca, 0.0);
    for (int u = 0; u < c.ca; ++u)
      for (int img = 0; img < c.n; ++img)
        for (int p = 0; p < c.hw; ++p) {
          const double x = a[((size_t)img * c.ca + u) * c.hw + p] - ra[u];  // float32 difference
          want_sq[u] += x * x;
        }
    cpu::accumulate_sums(c.n, c.ca, c.hw, a.data(), ra.data(), sums.data(), sq.data());
    CHECK(scaled_error(sums, want_sums, abs_sums, 1e-7) <= 1.0);
    CHECK(scaled_error(sq, want_sq, want_sq, 1e-12) <= 1.0);
    // The Gram's own pass gives the same sums (same float32 differences, float64 adds).
    CHECK(scaled_error(gsum, want_sums, abs_sums, 1e-12) <= 1.0);
    CHECK(scaled_error(gsq, want_sq, want_sq, 1e-12) <= 1.0);
    std::vector<double> plain(c.ca, 0.0);
    cpu::accumulate_sums(c.n, c.ca, c.hw, a.data(), nullptr, plain.data(), nullptr);  // no shift, no squares
    for (int u = 0; u < c.ca; ++u) CHECK(plain[u] == doctest::Approx(want_sums[u] + (double)ra[u] * c.n * c.hw).epsilon(1e-9));
  }
}

TEST_CASE("stats: stacked moments of three nets are bit-identical on 1, 2 and 3 threads and in plain or halves rows, and match naive float64 loops") {
  // accumulate_stacked shares runs and row blocks over the threads: each entry must still be one
  // thread's whole dot product, added into float64 in run order, on any thread count.
  struct Sums {
    std::vector<std::vector<double>> gram, cross, sum, sum_sq;
  };
  if (!cpu::nt_halves_pays())
    std::printf("rows in halves do not pay here (%s kernels): plain rows compared with themselves\n", cpu::gemm_kernels());
  const int before = omp_get_max_threads();
  std::vector<test::CrossCase> cases(std::begin(test::kCrossCases), std::end(test::kCrossCases));
  cases.push_back({10, 20, 12, 1300});  // four runs: 1, 2 and 3 threads group them differently
  cases.push_back({10, 150, 100, 300});  // 283 stacked units (32-row blocks) over two runs
  for (const test::CrossCase& c : cases) {
    CAPTURE(c.n);
    CAPTURE(c.ca);
    CAPTURE(c.cb);
    CAPTURE(c.hw);
    const std::vector<int> units{c.ca, c.cb, 33};
    const float mean[3] = {30.0f, -5.0f, 0.0f}, spread[3] = {2.0f, 0.5f, 1.0f};
    std::vector<std::vector<float>> x, r;
    for (int p = 0; p < 3; ++p) {
      x.push_back(shifted_randn((size_t)c.n * units[p] * c.hw, 21 + p, mean[p], spread[p]));
      r.push_back(test::randu(units[p], 31 + p, mean[p] - 1, mean[p] + 1));
    }
    auto run = [&](int threads) {
      omp_set_num_threads(threads);
      Sums s;
      cpu::StackedNets nets;
      nets.units = units;
      s.gram.resize(3), s.sum.resize(3), s.sum_sq.resize(3);
      for (int p = 0; p < 3; ++p) {
        // Onto 1.0, as a later batch adds onto earlier ones (where the order of adds shows).
        s.gram[p].assign((size_t)units[p] * units[p], 1.0), s.sum[p].assign(units[p], 1.0), s.sum_sq[p].assign(units[p], 1.0);
        nets.x.push_back(x[p].data()), nets.shift.push_back(r[p].data()), nets.gram.push_back(s.gram[p].data());
        nets.sum.push_back(s.sum[p].data()), nets.sum_sq.push_back(s.sum_sq[p].data());
      }
      for (auto [p, q] : {std::pair{0, 1}, {0, 2}, {1, 2}}) s.cross.emplace_back((size_t)units[p] * units[q], 1.0);
      for (auto& v : s.cross) nets.cross.push_back(v.data());
      std::vector<char> scratch(cpu::stacked_scratch_bytes(c.n, c.hw, units));
      cpu::accumulate_stacked(c.n, c.hw, nets, scratch.data());
      return s;
    };
    auto less_one = [](std::vector<double> v) {
      for (double& e : v) e -= 1.0;
      return v;
    };
    const Sums one = run(1), two = run(2), three = run(3);
    cpu::stats_force_plain_rows(true);  // conv rows in halves (AVX2 kernels) must give the plain rows' bits
    const Sums plain = run(2);
    cpu::stats_force_plain_rows(false);
    omp_set_num_threads(before);
    CHECK(one.gram == plain.gram);
    CHECK(one.cross == plain.cross);
    CHECK(one.sum == plain.sum);
    CHECK(one.sum_sq == plain.sum_sq);
    CHECK(one.gram == two.gram);
    CHECK(one.cross == two.cross);
    CHECK(one.sum == two.sum);
    CHECK(one.sum_sq == two.sum_sq);
    CHECK(one.gram == three.gram);
    CHECK(one.cross == three.cross);
    CHECK(one.sum == three.sum);
    CHECK(one.sum_sq == three.sum_sq);
    // Each product is a float32 run of at most kStatsRunSamples terms (kCrossRtol, tests/shapes.h).
    std::vector<double> want, scale;
    for (int p = 0; p < 3; ++p) {
      naive_cross(c.n, units[p], units[p], c.hw, x[p], r[p], x[p], r[p], want, scale);
      CHECK(scaled_error(less_one(one.gram[p]), want, scale, test::kCrossRtol) <= 1.0);
    }
    int pair = 0;
    for (auto [p, q] : {std::pair{0, 1}, {0, 2}, {1, 2}}) {
      naive_cross(c.n, units[p], units[q], c.hw, x[p], r[p], x[q], r[q], want, scale);
      CHECK(scaled_error(less_one(one.cross[pair++]), want, scale, test::kCrossRtol) <= 1.0);
    }
    for (int p = 0; p < 3; ++p) {  // float32 differences, summed and squared in float64: only the adds round
      std::vector<double> sums(units[p], 0.0), abs_sums(units[p], 0.0), sq(units[p], 0.0);
      for (int u = 0; u < units[p]; ++u)
        for (int img = 0; img < c.n; ++img)
          for (int t = 0; t < c.hw; ++t) {
            const double d = x[p][((size_t)img * units[p] + u) * c.hw + t] - r[p][u];
            sums[u] += d, abs_sums[u] += std::fabs(d), sq[u] += d * d;
          }
      CHECK(scaled_error(less_one(one.sum[p]), sums, abs_sums, 1e-12) <= 1.0);
      CHECK(scaled_error(less_one(one.sum_sq[p]), sq, sq, 1e-12) <= 1.0);
    }
  }
}

TEST_CASE("stats: stacked moments over several groups of runs are bit-identical on 1 to 4 threads") {
  // 512 stacked units: a group holds 3 runs of their float32 partials (4 MB, kernels/stats_cpu.cpp),
  // one per thread from 4 threads on; 10240 samples are 6 runs, so 2 groups, grouped differently on
  // 4 threads. Two batches, as later batches add onto earlier ones.
  const int n = 10, hw = 1024;
  const std::vector<int> units{256, 256};
  std::vector<std::vector<float>> x, r;
  for (int p = 0; p < 2; ++p) {
    x.push_back(shifted_randn((size_t)n * units[p] * hw, 41 + p, 3.0f, 1.0f));
    r.push_back(test::randu(units[p], 43 + p, 2, 4));
  }
  const int before = omp_get_max_threads();
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    std::vector<std::vector<double>> v;  // gram 0, gram 1, sum 0, sum 1, sum_sq 0, sum_sq 1, cross
    cpu::StackedNets nets;
    nets.units = units;
    for (int p = 0; p < 2; ++p) v.emplace_back((size_t)units[p] * units[p], 0.0);
    for (int i = 0; i < 4; ++i) v.emplace_back(units[i % 2], 0.0);
    v.emplace_back((size_t)units[0] * units[1], 0.0);
    for (int p = 0; p < 2; ++p) {
      nets.x.push_back(x[p].data()), nets.shift.push_back(r[p].data()), nets.gram.push_back(v[p].data());
      nets.sum.push_back(v[2 + p].data()), nets.sum_sq.push_back(v[4 + p].data());
    }
    nets.cross.push_back(v[6].data());
    std::vector<char> scratch(cpu::stacked_scratch_bytes(n, hw, units));
    for (int batch = 0; batch < 2; ++batch) cpu::accumulate_stacked(n, hw, nets, scratch.data());
    return v;
  };
  const auto one = run(1);
  for (int threads = 2; threads <= 4; ++threads) {
    CAPTURE(threads);
    CHECK(run(threads) == one);
  }
  omp_set_num_threads(before);
  bool symmetric = true;
  for (int i = 0; i < units[0]; ++i)
    for (int j = 0; j < units[0]; ++j) symmetric &= one[0][(size_t)i * units[0] + j] == one[0][(size_t)j * units[0] + i];
  CHECK(symmetric);
}

TEST_CASE("stats: an empty batch adds nothing to the CPU moments") {
  const std::vector<int> units{3, 2};
  std::vector<double> gram0(9, 1.0), gram1(4, 1.0), sum0(3, 1.0), sum1(2, 1.0), cross(6, 1.0);
  cpu::StackedNets nets{units, {nullptr, nullptr}, {nullptr, nullptr}, {gram0.data(), gram1.data()},
                        {sum0.data(), sum1.data()}, {nullptr, nullptr}, {cross.data()}};
  for (auto [n, hw] : {std::pair{0, 5}, {4, 0}}) {
    CHECK(cpu::stacked_scratch_bytes(n, hw, units) == 0);
    cpu::accumulate_stacked(n, hw, nets, nullptr);
    std::vector<char> scratch(cpu::cross_scratch_bytes(n, 3, 2, hw) + 1);
    cpu::accumulate_cross(n, 3, 2, hw, nullptr, nullptr, nullptr, nullptr, scratch.data(), cross.data());
  }
  CHECK(gram0 == std::vector<double>(9, 1.0));
  CHECK(sum1 == std::vector<double>(2, 1.0));
  CHECK(cross == std::vector<double>(6, 1.0));
}

TEST_CASE("stats: recentring is exact algebra (kernels and Moments)") {
  // Float64 data so nothing rounds beyond float64: sums about r_old, recentred to r_new, must equal
  // the sums computed about r_new directly.
  const int N = 500, ca = 4, cb = 3;
  std::vector<double> x((size_t)N * ca), y((size_t)N * cb);
  for (size_t e = 0; e < x.size(); ++e) x[e] = 10 + std::sin(0.37 * e);
  for (size_t e = 0; e < y.size(); ++e) y[e] = -3 + std::cos(0.91 * e);
  auto sums = [&](const std::vector<double>& rx, const std::vector<double>& ry, std::vector<double>& sx, std::vector<double>& sy,
                  std::vector<double>& cxy) {
    sx.assign(ca, 0), sy.assign(cb, 0), cxy.assign(ca * cb, 0);
    for (int s = 0; s < N; ++s) {
      for (int i = 0; i < ca; ++i) sx[i] += x[s * ca + i] - rx[i];
      for (int j = 0; j < cb; ++j) sy[j] += y[s * cb + j] - ry[j];
      for (int i = 0; i < ca; ++i)
        for (int j = 0; j < cb; ++j) cxy[i * cb + j] += (x[s * ca + i] - rx[i]) * (y[s * cb + j] - ry[j]);
    }
  };
  std::vector<double> r1x{9, 10, 11, 0}, r1y{-3, 0, 2}, r2x{10.5, 9.5, 10, 10}, r2y{-2.5, -3, -3.5};
  std::vector<double> sx, sy, c, wx, wy, wc;
  sums(r1x, r1y, sx, sy, c);
  sums(r2x, r2y, wx, wy, wc);
  std::vector<double> dx(ca), dy(cb);
  for (int i = 0; i < ca; ++i) dx[i] = r1x[i] - r2x[i];
  for (int j = 0; j < cb; ++j) dy[j] = r1y[j] - r2y[j];
  cpu::recenter_cross(ca, cb, N, sx.data(), dx.data(), sy.data(), dy.data(), c.data());
  cpu::recenter_sums(ca, N, dx.data(), sx.data());
  cpu::recenter_sums(cb, N, dy.data(), sy.data());
  CHECK_ALL_CLOSE(c, wc, 1e-9, 1e-12);
  CHECK_ALL_CLOSE(sx, wx, 1e-9, 1e-12);
  CHECK_ALL_CLOSE(sy, wy, 1e-9, 1e-12);

  // Moments::merge of two halves accumulated about different references == the whole.
  auto moments_of = [&](int s0, int s1, const std::vector<double>& rx, const std::vector<double>& ry) {
    Moments m({ca, cb});
    m.count = s1 - s0;
    m.shift = {rx, ry};
    for (int s = s0; s < s1; ++s) {
      for (int i = 0; i < ca; ++i) m.sum[0][i] += x[s * ca + i] - rx[i];
      for (int j = 0; j < cb; ++j) m.sum[1][j] += y[s * cb + j] - ry[j];
      for (int i = 0; i < ca; ++i)
        for (int k = 0; k < ca; ++k) m.gram[0][i * ca + k] += (x[s * ca + i] - rx[i]) * (x[s * ca + k] - rx[k]);
      for (int j = 0; j < cb; ++j)
        for (int k = 0; k < cb; ++k) m.gram[1][j * cb + k] += (y[s * cb + j] - ry[j]) * (y[s * cb + k] - ry[k]);
      for (int i = 0; i < ca; ++i)
        for (int j = 0; j < cb; ++j) m.cross[0][i * cb + j] += (x[s * ca + i] - rx[i]) * (y[s * cb + j] - ry[j]);
    }
    return m;
  };
  Moments whole = moments_of(0, N, r1x, r1y), half = moments_of(0, 200, r1x, r1y);
  half.merge(moments_of(200, N, r2x, r2y));
  LayerStats a = finalize(whole), b = finalize(half);
  for (int p = 0; p < 2; ++p) {
    CHECK_ALL_CLOSE(b.mean[p], a.mean[p], 1e-12, 1e-12);
    CHECK_ALL_CLOSE(b.std[p], a.std[p], 1e-12, 1e-10);
    CHECK_ALL_CLOSE(b.within[p], a.within[p], 1e-10, 0);
  }
  CHECK_ALL_CLOSE(b.between[0], a.between[0], 1e-10, 0);
  CHECK_THROWS_AS(half.merge(Moments({ca, cb + 1})), std::logic_error);
}

TEST_CASE("stats: the reference shift keeps ReLU zeros exact unless cancellation would cost") {
  // Half zeros, non-zero part 3 +- 1: E[x^2] = 5, var = 5 - 2.25 = 2.75 -> 0.
  CHECK(choose_shift(1.5, 5.0) == 0.0f);
  // Mean 100, std 1: E[x^2] = 10001 = 10001 var -> the mean.
  CHECK(choose_shift(100.0, 10001.0) == 100.0f);
  // A constant unit gets its value, so all its differences are exactly 0.
  CHECK(choose_shift(7.25, 7.25 * 7.25) == 7.25f);
  CHECK(choose_shift(0.0, 0.0) == 0.0f);
  // The boundary, in exact binary values: E[x^2] = 15 = 16 var (mean 3.75) still keeps 0.
  CHECK(choose_shift(3.75, 15.0) == 0.0f);
  CHECK(choose_shift(3.8125, 15.0) == 3.8125f);
}

TEST_CASE("stats: pair indexing of Moments covers every pair once") {
  Moments m({3, 4, 5, 6});
  CHECK(m.cross.size() == 6);
  std::vector<int> seen;
  for (int p = 0; p < 4; ++p)
    for (int q = p + 1; q < 4; ++q) {
      seen.push_back(m.pair_index(p, q));
      CHECK(m.cross[m.pair_index(p, q)].size() == (size_t)m.units[p] * m.units[q]);
    }
  CHECK(seen == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK_THROWS_AS(m.pair_index(2, 1), std::logic_error);
}

// ---- histograms and mutual information --------------------------------------------------------

namespace {

int naive_bin(float v, const float* e, int bins) {
  if (v == 0.0f) return 0;
  int b = 1;
  while (b - 1 < bins - 2 && v >= e[b - 1]) ++b;  // edges ascending
  return b;
}

}  // namespace

TEST_CASE("stats: bins, marginal and joint histograms match naive loops") {
  // {41, 3, 4, 500}: 20500 samples, two tiles of the bit-plane path (16384 samples at most).
  for (const auto& dims : std::vector<std::array<int, 5>>{
           {3, 5, 7, 50, 10}, {41, 9, 20, 1, 10}, {2, 17, 3, 300, 10}, {41, 3, 4, 500, 16}, {5, 4, 6, 77, 6}}) {
    // plain ints, not a structured binding: clang before 16 cannot capture those (CAPTURE's lambda)
    const int n = dims[0], ca = dims[1], cb = dims[2], hw = dims[3], bins = dims[4];
    CAPTURE(bins);
    CAPTURE(n);
    CAPTURE(ca);
    CAPTURE(cb);
    CAPTURE(hw);
    auto a = test::relu_data((size_t)n * ca * hw, 21), b = test::relu_data((size_t)n * cb * hw, 22);
    auto ea = test::edges_for(ca, bins, 100), eb = test::edges_for(cb, bins, 200);
    a[0] = ea[3];  // image 0, unit 0, position 0 sits exactly on edge 3: it belongs above it
    // The joint histogram skips a's zeros and rebuilds row 0 from b's marginal: a unit of a that is
    // all zeros and one of b with no zero at all must come out as the naive counts too.
    for (int img = 0; img < n && ca > 1; ++img)
      for (int p = 0; p < hw; ++p) a[((size_t)img * ca + 1) * hw + p] = 0.0f;
    for (int img = 0; img < n; ++img)
      for (int p = 0; p < hw; ++p) b[((size_t)img * cb) * hw + p] = 1.0f + p;
    std::vector<uint8_t> ba(a.size()), bb(b.size());
    cpu::compute_bins(n, ca, hw, a.data(), ea.data(), bins, ba.data());
    cpu::compute_bins(n, cb, hw, b.data(), eb.data(), bins, bb.data());
    bool bins_ok = true;
    for (size_t e = 0; e < a.size(); ++e) bins_ok &= ba[e] == naive_bin(a[e], &ea[(e / hw % ca) * (bins - 2)], bins);
    for (size_t e = 0; e < b.size(); ++e) bins_ok &= bb[e] == naive_bin(b[e], &eb[(e / hw % cb) * (bins - 2)], bins);
    CHECK(bins_ok);
    CHECK(ba[0] == 5);  // 1 + the four edges 0..3 that are <= the value

    std::vector<uint64_t> joint((size_t)ca * cb * bins * bins, 7), want(joint.size(), 7);
    std::vector<uint64_t> portable = joint, planes = joint;
    cpu::accumulate_joint_hist(n, ca, cb, hw, ba.data(), bb.data(), bins, joint.data());
    // Both paths, whichever this CPU dispatches to: the portable loop and the AVX-512 bit planes.
    cpu::accumulate_joint_hist_portable(n, ca, cb, hw, ba.data(), bb.data(), bins, portable.data());
    if (cpu::avx512::has_joint_hist()) cpu::avx512::accumulate_joint_hist(n, ca, cb, hw, ba.data(), bb.data(), bins, planes.data());
    for (int i = 0; i < ca; ++i)
      for (int j = 0; j < cb; ++j)
        for (int img = 0; img < n; ++img)
          for (int p = 0; p < hw; ++p)
            ++want[(((size_t)i * cb + j) * bins + ba[((size_t)img * ca + i) * hw + p]) * bins +
                   bb[((size_t)img * cb + j) * hw + p]];
    CHECK(joint == want);
    CHECK(portable == want);
    if (cpu::avx512::has_joint_hist()) CHECK(planes == want);

    std::vector<uint64_t> marg((size_t)ca * bins, 0), want_marg(marg.size(), 0);
    cpu::accumulate_marginal_hist(n, ca, hw, ba.data(), bins, marg.data());
    for (size_t e = 0; e < ba.size(); ++e) ++want_marg[(e / hw % ca) * bins + ba[e]];
    CHECK(marg == want_marg);
  }
  CHECK_THROWS_AS(cpu::compute_bins(1, 1, 1, nullptr, nullptr, 17, nullptr), std::logic_error);
}

TEST_CASE("stats: mutual information against a naive formula, self-MI = entropy, independent ~ 0") {
  // Naive: p from the table, marginals by explicit sums, sum p log(p / (pa pb)).
  const int bins = 4;
  const uint64_t table[16] = {10, 0, 3, 1, 2, 8, 0, 0, 0, 1, 12, 4, 5, 0, 0, 30};
  double N = 0, pa[4] = {}, pb[4] = {};
  for (int k = 0; k < 16; ++k) N += table[k], pa[k / 4] += table[k], pb[k % 4] += table[k];
  double naive = 0;
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      const double p = table[a * 4 + b] / N;
      if (p > 0) naive += p * std::log(p / (pa[a] / N * (pb[b] / N)));
    }
  CHECK(mutual_information(table, bins, false) == doctest::Approx(naive).epsilon(1e-12));
  CHECK(mutual_information(table, bins, true) == doctest::Approx(naive - 9.0 / (2 * N)).epsilon(1e-12));

  // Streamed through the kernels: a unit with itself, and independent units.
  const int n = 50, c = 12, hw = 2000, nb = 10;  // 100k samples
  auto x = test::relu_data((size_t)n * c * hw, 31);
  std::vector<float> edges;
  for (int u = 0; u < c; ++u) {
    std::vector<float> vals;
    for (int img = 0; img < n; ++img)
      for (int p = 0; p < hw; p += 7) vals.push_back(x[((size_t)img * c + u) * hw + p]);
    auto e = percentile_edges(vals.data(), vals.size(), nb);
    REQUIRE(e.size() == (size_t)nb - 2);
    CHECK(std::is_sorted(e.begin(), e.end()));
    edges.insert(edges.end(), e.begin(), e.end());
  }
  std::vector<uint8_t> bx(x.size());
  cpu::compute_bins(n, c, hw, x.data(), edges.data(), nb, bx.data());
  std::vector<uint64_t> joint((size_t)c * c * nb * nb, 0), marg((size_t)c * nb, 0);
  cpu::accumulate_joint_hist(n, c, c, hw, bx.data(), bx.data(), nb, joint.data());
  cpu::accumulate_marginal_hist(n, c, hw, bx.data(), nb, marg.data());
  auto mi = mutual_information_matrix(joint.data(), c, c, nb, false);
  auto mic = mutual_information_matrix(joint.data(), c, c, nb, true);
  double mean_off = 0;
  for (int u = 0; u < c; ++u) {
    // Percentile bins: the zero bin holds the ReLU's zeros (~50%), the 9 others ~1/9 of the rest.
    uint64_t nonzero = 0;
    for (int k = 1; k < nb; ++k) nonzero += marg[u * nb + k];
    for (int k = 1; k < nb; ++k) CHECK(std::fabs((double)marg[u * nb + k] / nonzero - 1.0 / 9) < 0.01);
    CHECK(mi[u * c + u] == doctest::Approx(entropy(&marg[u * nb], nb)).epsilon(1e-12));
    for (int v = 0; v < c; ++v)
      if (v != u) {
        // Independent units: 2N*I_plugin ~ chi2(81), so I_plugin ~ 81/(2N) = 4e-4 and the corrected
        // value has sd sqrt(2*81)/(2N) = 6.4e-5: each within 6 sd, their mean within 6 sd/sqrt(132).
        CHECK(mi[u * c + v] > 1e-4);  // the uncorrected estimate is biased up by ~4e-4
        CHECK(std::fabs(mic[u * c + v]) < 6 * 6.4e-5);
        mean_off += mic[u * c + v] / (c * (c - 1));
      }
  }
  CHECK(std::fabs(mean_off) < 6 * 6.4e-5 / std::sqrt(66.0));
}

TEST_CASE("stats: percentile edges and the deterministic subsample") {
  std::vector<float> v = {0, 0, 0, 5, 1, 4, 2, 3, 0, 6, 8, 7, 9};  // non-zero: 1..9
  auto e = percentile_edges(v.data(), v.size(), 5);                // 3 edges, quartiles of 9 values
  CHECK(e == std::vector<float>{3, 5, 7});                         // ranks floor(k*9/4) = 2, 4, 6
  std::vector<float> zeros(10, 0.0f);
  auto ez = percentile_edges(zeros.data(), zeros.size(), 4);
  CHECK(std::isinf(ez[0]));
  CHECK(stats_bin_of(0.5f, ez.data(), 4) == 1);
  CHECK_THROWS_AS(percentile_edges(v.data(), v.size(), 1), std::logic_error);

  // The same samples are kept however the images are batched.
  const int hw = 37;
  auto whole = select_samples(100, 10, hw, 13, 5);
  std::vector<long> first, second;
  for (int s : whole) first.push_back(100L * hw + s);
  for (int b = 0; b < 10; b += 3) {
    const int n = std::min(3, 10 - b);
    for (int s : select_samples(100 + b, n, hw, 13, 5)) second.push_back((100L + b) * hw + s);
  }
  CHECK(first == second);
  CHECK(whole.size() > 370 / 13 / 2);
  CHECK(whole.size() < 370 / 13 * 2);

  // gather_samples picks those samples' values for every unit.
  const int n = 2, c = 3, hh = 5;
  std::vector<float> x(n * c * hh);
  std::iota(x.begin(), x.end(), 0.0f);
  std::vector<int> idx{0, 4, 7};  // image 0 pos 0, image 0 pos 4, image 1 pos 2
  std::vector<float> out(c * 6, -1);
  cpu::gather_samples(n, c, hh, x.data(), 3, idx.data(), 6, 2, out.data());
  CHECK(out == std::vector<float>{-1, -1, 0, 4, 17, -1, -1, -1, 5, 9, 22, -1, -1, -1, 10, 14, 27, -1});
}

// ---- top-k ------------------------------------------------------------------------------------

TEST_CASE("stats: per-unit top-k images match a full sort, ties to the lower image id") {
  const int c = 6, hw = 30, k = 9, batch = 13, images = 100;
  // Values on a coarse grid: many ties, within an image (argmax -> lowest position) and across images.
  std::vector<float> all((size_t)images * c * hw);
  for (size_t e = 0; e < all.size(); ++e) all[e] = std::floor(rng_uniform(3, 4, e) * 20.0f) - 5.0f;
  for (int p = 0; p < hw; ++p) all[((size_t)7 * c + 2) * hw + p] = -INFINITY;  // an all -inf row
  all[((size_t)8 * c + 2) * hw + 3] = NAN;                                     // a NaN is ignored
  std::vector<float> val(c * k), mv(batch * c);
  std::vector<int> img(c * k), pos(c * k), am(batch * c);
  cpu::topk_reset(c, k, val.data(), img.data(), pos.data());
  for (int b0 = 0; b0 < images; b0 += batch) {
    const int n = std::min(batch, images - b0);
    cpu::unit_max_per_image(n, c, hw, &all[(size_t)b0 * c * hw], mv.data(), am.data());
    cpu::topk_merge(n, c, k, mv.data(), am.data(), 1000 + b0, val.data(), img.data(), pos.data());
  }
  for (int u = 0; u < c; ++u) {
    struct E {
      float v;
      int img, pos;
    };
    std::vector<E> es;
    for (int i = 0; i < images; ++i) {
      E e{-INFINITY, 1000 + i, -1};
      for (int p = 0; p < hw; ++p) {
        const float v = all[((size_t)i * c + u) * hw + p];
        if (v > e.v || (e.pos < 0 && v == e.v)) e.v = v, e.pos = p;
      }
      es.push_back(e);
    }
    std::stable_sort(es.begin(), es.end(), [](const E& a, const E& b) { return a.v > b.v; });  // ids ascending kept
    for (int t = 0; t < k; ++t) {
      CAPTURE(u);
      CAPTURE(t);
      CHECK(val[u * k + t] == es[t].v);
      CHECK(img[u * k + t] == es[t].img);
      CHECK(pos[u * k + t] == es[t].pos);
    }
  }
  // Fewer candidates than k: the tail stays empty.
  std::vector<float> v2(k), m2{3.0f, 3.0f};
  std::vector<int> i2(k), p2(k), a2{1, 0};
  cpu::topk_reset(1, k, v2.data(), i2.data(), p2.data());
  cpu::topk_merge(2, 1, k, m2.data(), a2.data(), 50, v2.data(), i2.data(), p2.data());
  CHECK(i2[0] == 50);
  CHECK(i2[1] == 51);
  CHECK(i2[2] == -1);
  CHECK(std::isinf(v2[2]));
}
