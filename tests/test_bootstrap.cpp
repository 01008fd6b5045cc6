// Dead units, the block bootstrap and multi-way matching (issue 14, items 2, 4, 5).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/align/score_intervals.h"
#include "analysis/align/scores.h"
#include "analysis/match/multiway.h"
#include "analysis/stats/bootstrap.h"
#include "analysis/stats/correlate.h"
#include "kernels/rng.h"
#include "tests/check.h"

using namespace cvg;

namespace {

// Activations of K nets for images 0..n-1 as NCHW [n, c_k, hw] arrays, from a function of
// (net, image, unit, position).
using Gen = std::function<float(int, long, int, int)>;
std::vector<std::vector<float>> make_acts(const std::vector<int>& units, long n, int hw, const Gen& g) {
  std::vector<std::vector<float>> a;
  for (int k = 0; k < (int)units.size(); ++k) {
    a.emplace_back((size_t)n * units[k] * hw);
    for (long i = 0; i < n; ++i)
      for (int u = 0; u < units[k]; ++u)
        for (int p = 0; p < hw; ++p) a[k][((size_t)i * units[k] + u) * hw + p] = g(k, i, u, p);
  }
  return a;
}

// Feeds images `order` (indices into acts) in batches of `batch`, numbered 0, 1, ... as fed.
MomentAccumulator accumulate(const Device& dev, const std::vector<int>& units, int hw,
                             const std::vector<std::vector<float>>& acts, const std::vector<long>& order, int blocks,
                             int batch = 40) {
  MomentAccumulator acc(dev, units, blocks);
  std::vector<Array<float>> buf;
  for (int k = 0; k < (int)units.size(); ++k) buf.emplace_back(dev, (size_t)batch * units[k] * hw);
  for (size_t i0 = 0; i0 < order.size(); i0 += batch) {
    const int n = (int)std::min<size_t>(batch, order.size() - i0);
    std::vector<const float*> ptrs;
    for (int k = 0; k < (int)units.size(); ++k) {
      const size_t per = (size_t)units[k] * hw;
      std::vector<float> host((size_t)batch * per, 0.0f);
      for (int i = 0; i < n; ++i) std::copy_n(acts[k].begin() + order[i0 + i] * per, per, host.begin() + i * per);
      buf[k].from_host(host);
      ptrs.push_back(buf[k].data());
    }
    acc.add_batch(ptrs, n, hw, (long)i0);
  }
  return acc;
}

std::vector<long> iota_images(long n) {
  std::vector<long> v(n);
  std::iota(v.begin(), v.end(), 0L);
  return v;
}

// A standard normal from (seed, index), Box-Muller on two uniforms.
double normal(uint64_t seed, uint64_t index) {
  const double u1 = (rng_bits(seed, 5, 2 * index) >> 11) * 0x1.0p-53, u2 = (rng_bits(seed, 5, 2 * index + 1) >> 11) * 0x1.0p-53;
  return std::sqrt(-2 * std::log(1 - u1)) * std::cos(2 * M_PI * u2);
}

}  // namespace

TEST_CASE("correlate: dead (zero-variance) units are left out of matching and means, and counted") {
  // s, t: independent signals (i mod 7, i mod 5 over 420 = 7*5*4*3 images), e: noise (i mod 4).
  // Net 0: s, t, a constant, -(s + t). Net 1: s + e, a constant, t + e, s + t. Net 0's unit 3
  // correlates negatively with every live unit of net 1: were the dead units candidates, it would
  // pick net 1's constant unit 1 (correlation 0) in both matchings.
  const std::vector<int> units = {4, 4};
  auto g = [](int k, long i, int u, int) -> float {
    const float s = (float)(i % 7) - 3, t = (float)(i % 5) - 2, e = 0.5f * (float)(i % 4);
    const float net0[4] = {s, t, 2.5f, -(s + t)}, net1[4] = {s + e, -1.0f, t + e, s + t};
    return k == 0 ? net0[u] : net1[u];
  };
  const auto acts = make_acts(units, 420, 1, g);
  const Moments m = accumulate(Device::cpu(), units, 1, acts, iota_images(420), 0).moments();
  const LayerScores s = score_layer(m, Solver::Exact, Device::cpu());
  CHECK(s.stats.zero_variance[0] == std::vector<int>{2});
  CHECK(s.stats.zero_variance[1] == std::vector<int>{1});
  const PairResult& p = s.pairs.at(0);
  CHECK(p.semi_ab == std::vector<int64_t>{0, 2, -1, 2});  // unit 3: its least negative partner, t + e
  CHECK(p.semi_ba == std::vector<int64_t>{0, -1, 1, 0});
  const std::vector<double>& C = p.between;
  CHECK(C[3 * 4 + 3] == doctest::Approx(-1).epsilon(1e-9));
  // The bipartite matching: the best of the 6 assignments of live rows {0, 1, 3} to live columns
  // {0, 2, 3}, by brute force.
  std::vector<int64_t> cols = {0, 2, 3}, best;
  double best_sum = -INFINITY;
  do {
    const double sum = C[0 * 4 + cols[0]] + C[1 * 4 + cols[1]] + C[3 * 4 + cols[2]];
    if (sum > best_sum) best_sum = sum, best = {cols[0], cols[1], -1, cols[2]};
  } while (std::next_permutation(cols.begin(), cols.end()));
  CHECK(p.bipartite.row_to_col == best);
  // Means over the live units only.
  CHECK(p.scores.semi_ab == doctest::Approx((C[0] + C[1 * 4 + 2] + C[3 * 4 + 2]) / 3).epsilon(1e-14));
  CHECK(p.scores.bipartite == doctest::Approx(best_sum / 3).epsilon(1e-14));
  double live = 0;
  for (int i : {0, 1, 3})
    for (int j : {0, 2, 3}) live += C[i * 4 + j];
  CHECK(p.scores.random == doctest::Approx(live / 9).epsilon(1e-14));
  CHECK(p.scores.mutual == 2);  // 0-0 and 1-2
  CHECK(p.summary["dead_units"] == nlohmann::json::array({1, 1}));
  CHECK(p.summary["unmatched_a"].empty());
  CHECK(p.summary["unmatched_b"].empty());
  CHECK(p.summary["matched_pairs_best_first"].size() == 3);
}

TEST_CASE("bootstrap: a replicate from weighted block moments is the statistic recomputed on the resampled images") {
  // Small integers: every float32 difference, product and run sum is exact, so the only rounding
  // is float64's, on both sides.
  const std::vector<int> units = {3, 2};
  const int hw = 3, blocks = 5;
  const long n = 300;  // 19 runs of 16 images (the last short), dealt to 5 blocks
  auto g = [](int k, long i, int u, int p) -> float {
    const int a = (int)(rng_bits(7, u, i * hw + p) % 9) - 4;
    return k == 0 ? (float)a : (float)(a + (int)(rng_bits(8, u, i * hw + p) % 5) - 2);
  };
  const auto acts = make_acts(units, n, hw, g);
  const MomentAccumulator acc = accumulate(Device::cpu(), units, hw, acts, iota_images(n), blocks);
  const std::vector<Moments> bm = acc.block_moments();
  REQUIRE(bm.size() == (size_t)blocks);
  for (int b = 0; b < blocks; ++b) {  // each block holds its images: runs b, b + 5, ...
    double images = 0;
    for (long i = 0; i < n; ++i) images += block_of_image(i, blocks) == b;
    CHECK(bm[b].count == images * hw);
  }
  const std::vector<std::vector<double>> weights = bootstrap_weights(blocks, 3, 42);
  CHECK(weights == bootstrap_weights(blocks, 3, 42));        // seeded
  CHECK(weights[0] == bootstrap_weights(blocks, 1, 42)[0]);  // replicate r does not depend on how many
  for (const std::vector<double>& w : weights) {
    CHECK(std::accumulate(w.begin(), w.end(), 0.0) == blocks);
    // The resampled images: block b's images, w[b] times.
    std::vector<long> order;
    for (int b = 0; b < blocks; ++b)
      for (int c = 0; c < (int)w[b]; ++c)
        for (long i = 0; i < n; ++i)
          if (block_of_image(i, blocks) == b) order.push_back(i);
    const Moments direct = accumulate(Device::cpu(), units, hw, acts, order, 0).moments();
    const Moments weighted = weighted_moments(bm, w);
    CHECK(weighted.count == direct.count);
    const LayerStats sd = finalize(direct), sw = finalize(weighted);
    for (int k = 0; k < 2; ++k) {
      CHECK_ALL_CLOSE(sw.mean[k], sd.mean[k], 1e-13, 1e-13);
      CHECK_ALL_CLOSE(sw.within[k], sd.within[k], 1e-13, 0);
    }
    CHECK_ALL_CLOSE(sw.between[0], sd.between[0], 1e-13, 0);
    // And against a float64 correlation computed straight from the resampled values.
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0, N = 0;
    for (long i : order)
      for (int p = 0; p < hw; ++p) {
        const double x = acts[0][((size_t)i * 3 + 1) * hw + p], y = acts[1][((size_t)i * 2 + 0) * hw + p];
        sa += x, sb += y, saa += x * x, sbb += y * y, sab += x * y, ++N;
      }
    const double r = (sab / N - sa / N * sb / N) / std::sqrt((saa / N - sa / N * sa / N) * (sbb / N - sb / N * sb / N));
    CHECK(sw.between[0][1 * 2 + 0] == doctest::Approx(r).epsilon(1e-13));
    const LayerScores a = score_layer(weighted, Solver::Exact, Device::cpu()),
                      d = score_layer(direct, Solver::Exact, Device::cpu());
    for (const ScoreField& f : kIntervalScores) {
      INFO(f.key);
      CHECK(a.pairs[0].scores.*f.field == doctest::Approx(d.pairs[0].scores.*f.field).epsilon(1e-13));
    }
    CHECK(a.pairs[0].bipartite.row_to_col == d.pairs[0].bipartite.row_to_col);
  }
}

TEST_CASE("bootstrap: weighted block moments in a batch equal them one at a time, and the plain sum") {
  // 3 nets (3 cross blocks), a gram of 40 x 40 = 1600 entries (more than one tile of the batch's
  // loop), 6 blocks of random values; weights with zeros, fractions and an all-zero vector.
  const std::vector<int> units = {40, 7, 33};
  const int blocks = 6;
  std::vector<Moments> bm;
  uint64_t draw = 0;
  auto value = [&] { return (double)rng_uniform(11, 3, draw++) - 0.5; };
  for (int b = 0; b < blocks; ++b) {
    Moments m(units);
    m.count = 10 + b;
    for (int k = 0; k < 3; ++k) m.shift[k].assign(units[k], 0.25 * k);
    for (auto* group : {&m.sum, &m.gram, &m.cross})
      for (std::vector<double>& v : *group)
        for (double& x : v) x = value();
    bm.push_back(m);
  }
  const std::vector<std::vector<double>> w = {
      {1, 0, 2, 0, 3, 0}, {0.5, 1.25, 0, 0, 7, 1}, {0, 0, 0, 0, 0, 0}, {2, 2, 2, 0, 0, 0}, {1, 1, 1, 1, 1, 1}};
  std::vector<const std::vector<double>*> all, some = {&w[3], &w[1]};
  for (const auto& v : w) all.push_back(&v);
  const std::vector<Moments> batch = weighted_moments(bm, all), other = weighted_moments(bm, some);
  REQUIRE(batch.size() == w.size());
  auto same = [](const Moments& a, const Moments& b) {
    return a.units == b.units && a.count == b.count && a.shift == b.shift && a.sum == b.sum && a.gram == b.gram &&
           a.cross == b.cross;
  };
  for (size_t r = 0; r < w.size(); ++r) {
    INFO("weights " << r);
    CHECK(same(batch[r], weighted_moments(bm, w[r])));  // bit for bit: the batch does not matter
    // The plain sum, block after block (rounding: a few ulps of the largest term).
    double count = 0;
    for (int b = 0; b < blocks; ++b) count += w[r][b] * bm[b].count;
    CHECK(batch[r].count == count);
    for (int k = 0; k < 3; ++k) CHECK(batch[r].shift[k] == bm[0].shift[k]);
    for (size_t e = 0; e < bm[0].cross.size(); ++e) {
      std::vector<double> plain(bm[0].cross[e].size(), 0.0);
      for (int b = 0; b < blocks; ++b)
        for (size_t i = 0; i < plain.size(); ++i) plain[i] += w[r][b] * bm[b].cross[e][i];
      CHECK_ALL_CLOSE(batch[r].cross[e], plain, 1e-14, 1e-14);
    }
  }
  CHECK(same(other[0], batch[3]));
  CHECK(same(other[1], batch[1]));
  CHECK(weighted_moments(bm, std::vector<const std::vector<double>*>{}).empty());
  const std::vector<double> short_w = {1, 2};
  CHECK_THROWS_AS(weighted_moments(bm, std::vector<const std::vector<double>*>{&w[0], &short_w}), std::logic_error);
}

TEST_CASE("bootstrap: 95% intervals cover a known population correlation in >= 90% of 100 simulations") {
  // Two nets of two units: (x0, y0) with correlation 0.6 and (x1, y1) with 0.3, independent
  // otherwise; 1024 images, 32 blocks, 200 resamples. Checked: the interval of corr(x0, y0) and
  // of the bipartite mean ((0.6 + 0.3) / 2 = 0.45; the matching is the planted one: its margin,
  // ~0.3, is ten standard errors).
  const std::vector<int> units = {2, 2};
  const long n = 1024;
  const double rho[2] = {0.6, 0.3};
  int covered_corr = 0, covered_bipartite = 0;
  for (int sim = 0; sim < 100; ++sim) {
    auto g = [&](int k, long i, int u, int) -> float {
      const double z = normal(1000 + sim, (uint64_t)i * 4 + u), e = normal(2000 + sim, (uint64_t)i * 4 + u);
      return (float)(k == 0 ? z : rho[u] * z + std::sqrt(1 - rho[u] * rho[u]) * e);
    };
    const auto acts = make_acts(units, n, 1, g);
    const std::vector<Moments> bm = accumulate(Device::cpu(), units, 1, acts, iota_images(n), 32, 128).block_moments();
    const auto reps = bootstrap_replicates(bm, 200, sim, [](const Moments& m) {
      const LayerScores s = score_layer(m, Solver::Exact, Device::cpu());
      return std::vector<double>{s.stats.between[0][0], s.pairs[0].scores.bipartite};
    });
    const std::vector<Interval> iv = intervals(reps);
    CHECK(iv[0].valid == 200);
    covered_corr += iv[0].lo <= rho[0] && rho[0] <= iv[0].hi;
    covered_bipartite += iv[1].lo <= 0.45 && 0.45 <= iv[1].hi;
  }
  INFO("corr covered ", covered_corr, ", bipartite covered ", covered_bipartite);
  CHECK(covered_corr >= 90);
  CHECK(covered_bipartite >= 90);
  CHECK(covered_corr <= 100);
}

TEST_CASE("bootstrap: percentile intervals and their edge cases") {
  std::vector<double> v(101);
  std::iota(v.begin(), v.end(), 0.0);
  const Interval i = percentile_interval(v);
  CHECK(i.lo == doctest::Approx(2.5));
  CHECK(i.hi == doctest::Approx(97.5));
  v.push_back(NAN);
  CHECK(percentile_interval(v).valid == 101);
  CHECK(std::isnan(percentile_interval({NAN}).lo));
  CHECK(separated({0, 1, 1}, {1.5, 2, 1}));
  CHECK(!separated({0, 1, 1}, {0.5, 2, 1}));
  CHECK_THROWS(weighted_moments({Moments({2})}, {1.0, 2.0}));
}

TEST_CASE("stats: GPU block moments equal the CPU's (exact on integer data)") {
  if (!test::gpu_or_skip()) return;
  const std::vector<int> units = {5, 3, 4};
  const int hw = 7, blocks = 4;
  auto g = [](int k, long i, int u, int p) -> float { return (float)((int)(rng_bits(3 + k, u, i * 7 + p) % 11) - 5); };
  const auto acts = make_acts(units, 150, hw, g);
  const auto cpu = accumulate(Device::cpu(), units, hw, acts, iota_images(150), blocks).block_moments();
  const auto gpu = accumulate(Device{Device::CUDA, 0}, units, hw, acts, iota_images(150), blocks).block_moments();
  REQUIRE(gpu.size() == cpu.size());
  for (int b = 0; b < blocks; ++b) {
    CHECK(gpu[b].count == cpu[b].count);
    CHECK(gpu[b].shift == cpu[b].shift);
    CHECK(gpu[b].sum == cpu[b].sum);
    CHECK(gpu[b].gram == cpu[b].gram);
    CHECK(gpu[b].cross == cpu[b].cross);
  }
}

TEST_CASE("multiway: cycle consistency and universal units of planted matchings") {
  // Three nets of three units; identity matchings except 1 <-> 2 swapped between nets 1 and 2:
  // units 1 and 2 break the cycle 0 -> 1 -> 2 -> 0; unit 0 is consistent everywhere.
  const std::vector<int> units = {3, 3, 3};
  const std::vector<std::vector<int64_t>> m = {{0, 1, 2}, {0, 1, 2}, {0, 2, 1}};  // (0,1), (0,2), (1,2)
  std::vector<std::vector<double>> corr(3, std::vector<double>(9, 0.1));
  for (auto& c : corr)
    for (int i = 0; i < 3; ++i) c[i * 3 + i] = 0.9;
  corr[1][1 * 3 + 1] = 0.4;  // net 0's unit 1 and its partner in net 2: below the threshold
  const Multiway r = multiway_matching(units, {{}, {}, {}}, m, corr, 0.5);
  CHECK(r.consistent == std::vector<int>{1, 1, 1});
  CHECK(r.consistent_fraction == doctest::Approx(1.0 / 3));
  REQUIRE(r.universal.size() == 3);
  REQUIRE(r.universal[0].size() == 2);  // units 0 and 2 (2's partner in net 2 is 2: 0.9)
  CHECK(r.universal[0][0].unit == 0);
  CHECK(r.universal[0][1].unit == 2);
  CHECK(r.universal[0][1].partner == std::vector<int64_t>{2, 2, 2});
  // The same test from nets 1 and 2: only unit 0 (the swapped partners correlate 0.1), listed with
  // its partners from that net's side.
  for (int net : {1, 2}) {
    REQUIRE(r.universal[net].size() == 1);
    CHECK(r.universal[net][0].unit == 0);
    CHECK(r.universal[net][0].partner == std::vector<int64_t>{0, 0, 0});
    std::vector<double> corr = {0.9, 0.9, 0.9};
    corr[net] = 1;  // its own net
    CHECK(r.universal[net][0].corr == corr);
  }
  REQUIRE(r.triples == std::vector<std::vector<int>>{{0, 1, 2}});
  CHECK(r.triple_fraction[0] == doctest::Approx(1.0 / 3));
  // A dead unit is neither.
  const Multiway d = multiway_matching(units, {{0}, {}, {}}, m, corr, 0.5);
  CHECK(d.live == std::vector<int>{2, 3, 3});
  CHECK(d.consistent[0] == 0);
  CHECK(d.universal[0].size() == 1);
}

TEST_CASE("bootstrap: global-score intervals are basic intervals, which move against the resampling bias of CCA") {
  // Two independent nets of 30 units on 300 images: every population canonical correlation is 0,
  // and the sample ones are biased upward, more so on resamples (repeated images). The percentile
  // interval then lies above the estimate; the basic interval reflects it about the estimate.
  const std::vector<int> units = {30, 30};
  auto g = [](int k, long i, int u, int p) -> float { return (float)normal(11 + k, (uint64_t)i * 30 + u); };
  const auto acts = make_acts(units, 300, 1, g);
  const std::vector<Moments> bm = accumulate(Device::cpu(), units, 1, acts, iota_images(300), 15).block_moments();
  const nlohmann::json iv = global_score_intervals(bm, 0, 1, 40, 5);
  const double t = global_scores(pair_moments(weighted_moments(bm, std::vector<double>(bm.size(), 1.0)), 0, 1)).cca_mean;
  CHECK(iv["method"] == "basic");
  CHECK(iv["bias"]["cca_mean"].get<double>() > 0.02);
  CHECK(iv["percentile"]["cca_mean"][0].get<double>() > t);
  CHECK(iv["cca_mean"][0].get<double>() == doctest::Approx(2 * t - iv["percentile"]["cca_mean"][1].get<double>()).epsilon(1e-12));
  CHECK(iv["cca_mean"][1].get<double>() == doctest::Approx(2 * t - iv["percentile"]["cca_mean"][0].get<double>()).epsilon(1e-12));
  CHECK(iv["cca_mean"][1].get<double>() < t);
}

TEST_CASE("bootstrap: global-score intervals of a net and its copy are [1, 1] (CKA, CCA) and [0, 0] (Procrustes)") {
  const std::vector<int> units = {3, 3};
  auto g = [](int k, long i, int u, int p) -> float {
    return (float)normal(9, (uint64_t)i * 3 + u) + (u == 2 ? 0.5f * (float)normal(9, i * 3) : 0.f);
  };
  const auto acts = make_acts(units, 400, 1, g);
  const std::vector<Moments> bm = accumulate(Device::cpu(), units, 1, acts, iota_images(400), 8).block_moments();
  const nlohmann::json iv = global_score_intervals(bm, 0, 1, 30, 3);
  for (const char* k : {"cka_linear", "cca_mean", "pwcca"}) {
    INFO(k);
    CHECK(iv[k][0].get<double>() == doctest::Approx(1).epsilon(1e-9));
    CHECK(iv[k][1].get<double>() == doctest::Approx(1).epsilon(1e-9));
  }
  CHECK(iv["procrustes"][1].get<double>() < 1e-9);
  CHECK(iv["resamples"] == 30);
  CHECK(global_score_intervals(bm, 0, 1, 30, 3)["cka_linear"] == iv["cka_linear"]);
}

TEST_CASE("bootstrap: global-score intervals of one pair of several nets equal global_scores recomputed per replicate") {
  // Three nets sharing latent factors; bin/align's intervals for nets (0, 2) and (2, 0) (resampling
  // the pair's blocks only, through score_summary) against the plain recomputation: all nets'
  // weighted moments, then global_scores, per replicate. Net 2 is the narrower in both orders, so
  // PWCCA is weighted by the same net.
  const std::vector<int> units = {7, 5, 6};
  auto g = [](int k, long i, int u, int p) -> float {
    return (float)(normal(1, (uint64_t)i * 8 + u % 4) + 0.8 * normal(20 + k, (uint64_t)i * 8 + u));
  };
  const auto acts = make_acts(units, 480, 1, g);
  const std::vector<Moments> bm = accumulate(Device::cpu(), units, 1, acts, iota_images(480), 12).block_moments();
  const int R = 25;
  const auto weights = bootstrap_weights((int)bm.size(), R, 7);
  for (const auto& pq : {std::pair{0, 2}, std::pair{2, 0}}) {
    const int p = pq.first, q = pq.second;  // plain ints: clang before 16 cannot capture bindings (INFO)
    INFO("nets " << p << ", " << q);
    const nlohmann::json iv = global_score_intervals(bm, p, q, R, 7);
    std::vector<std::vector<double>> reps;
    for (const auto& w : weights) {
      const GlobalScores s = global_scores(pair_moments(weighted_moments(bm, w), p, q));
      reps.push_back({s.cka, s.cca_mean, s.svcca_mean, s.pwcca, s.procrustes});
    }
    const std::vector<Interval> want = intervals(reps);
    const char* keys[] = {"cka_linear", "cca_mean", "svcca_mean", "pwcca", "procrustes"};
    for (int i = 0; i < 5; ++i) {
      INFO(keys[i]);
      // The same replicates by another factorisation (Cholesky whitening, one PWCCA side): ~1e-14.
      CHECK(iv["percentile"][keys[i]][0].get<double>() == doctest::Approx(want[i].lo).epsilon(1e-11));
      CHECK(iv["percentile"][keys[i]][1].get<double>() == doctest::Approx(want[i].hi).epsilon(1e-11));
    }
  }
}
