// The device-side accumulators of analysis/stats/mutual_info.h and topk.h: percentile-edge sampling, joint
// histograms and MI over several nets, top-k images; on the CPU against naive loops, and GPU vs CPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "analysis/stats/moments.h"
#include "analysis/stats/mutual_info.h"
#include "analysis/stats/topk.h"
#include "kernels/stats.h"
#include "nn/tensor.h"
#include "tests/check.h"

using namespace cvg;

namespace {

// Three nets over the same images: A (ReLU-like, 7 units), B (5 units), C = A with channels
// permuted (a net and its permuted copy).
struct Nets {
  int n, hw;
  static constexpr int ca = 7, cb = 5;
  static constexpr int width = 12;       // of the maps: hw = h * width
  int perm[ca] = {3, 0, 6, 1, 5, 2, 4};  // C[perm[u]] = A[u]
  std::vector<float> A, B, C;
  Nets(int n_, int hw_, uint64_t seed) : n(n_), hw(hw_) {
    A = test::randn((size_t)n * ca * hw, seed, 1.0f, 0.1f);
    B = test::randn((size_t)n * cb * hw, seed + 1, 2.0f, -0.5f);
    for (float& x : A) x = std::max(0.0f, x);
    for (size_t e = 0; e < B.size(); ++e) {  // B's unit j follows A's unit j, plus noise, ReLU
      const size_t img = e / ((size_t)cb * hw), j = e / hw % cb, p = e % hw;
      B[e] = std::max(0.0f, A[(img * ca + j) * hw + p] + 0.5f * B[e]);
    }
    C.resize(A.size());
    for (int i = 0; i < n; ++i)
      for (int u = 0; u < ca; ++u) std::copy_n(&A[((size_t)i * ca + u) * hw], hw, &C[((size_t)i * ca + perm[u]) * hw]);
  }
  const float* batch(const std::vector<float>& x, int c, int i0) const { return &x[(size_t)i0 * c * hw]; }
};

struct Results {
  std::vector<std::vector<float>> edges;
  std::vector<std::vector<float>> samples;  // net A's kept values per unit
  std::vector<uint64_t> jab, jac, jbc, ma;
  TopTable top;
};

// Pass 1: edge samples and top-k; pass 2: joint histograms. Batches of `batch` images.
Results run_passes(const Device& dev, const Nets& d, int batch, int bins) {
  Results r;
  const uint64_t total = (uint64_t)d.n * d.hw;
  EdgeSampler sa(dev, Nets::ca, total, 2000, 7), sb(dev, Nets::cb, total, 2000, 7), sc(dev, Nets::ca, total, 2000, 7);
  REQUIRE(d.hw % Nets::width == 0);
  TopKAccumulator top(dev, Nets::ca, 9, Nets::width);
  Array<float> dA(dev, d.A.size()), dB(dev, d.B.size()), dC(dev, d.C.size());
  dA.from_host(d.A), dB.from_host(d.B), dC.from_host(d.C);
  auto at = [&](Array<float>& x, int c, int i0) { return x.data() + (size_t)i0 * c * d.hw; };
  for (int i0 = 0; i0 < d.n; i0 += batch) {
    const int n = std::min(batch, d.n - i0);
    sa.add_batch(at(dA, Nets::ca, i0), 100 + i0, n, d.hw);
    sb.add_batch(at(dB, Nets::cb, i0), 100 + i0, n, d.hw);
    sc.add_batch(at(dC, Nets::ca, i0), 100 + i0, n, d.hw);
    top.add_batch(at(dA, Nets::ca, i0), 100 + i0, n, d.hw);
  }
  r.edges = {sa.edges(bins), sb.edges(bins), sc.edges(bins)};
  for (int u = 0; u < Nets::ca; ++u) r.samples.push_back(sa.values(u));
  r.top = top.result();
  JointHistogramAccumulator jh(dev, {Nets::ca, Nets::cb, Nets::ca}, bins, r.edges);
  for (int i0 = 0; i0 < d.n; i0 += batch) {
    const int n = std::min(batch, d.n - i0);
    jh.add_batch({at(dA, Nets::ca, i0), at(dB, Nets::cb, i0), at(dC, Nets::ca, i0)}, n, d.hw);
  }
  r.jab = jh.joint(0, 1), r.jac = jh.joint(0, 2), r.jbc = jh.joint(1, 2), r.ma = jh.marginal(0);
  return r;
}

// Naive joint histogram of two nets' activations with given edges.
std::vector<uint64_t> naive_joint(const Nets& d, const std::vector<float>& x, int cx, const std::vector<float>& ex,
                                  const std::vector<float>& y, int cy, const std::vector<float>& ey, int bins) {
  std::vector<uint64_t> h((size_t)cx * cy * bins * bins, 0);
  for (int i = 0; i < cx; ++i)
    for (int j = 0; j < cy; ++j)
      for (int img = 0; img < d.n; ++img)
        for (int p = 0; p < d.hw; ++p) {
          const int a = stats_bin_of(x[((size_t)img * cx + i) * d.hw + p], &ex[(size_t)i * (bins - 2)], bins);
          const int b = stats_bin_of(y[((size_t)img * cy + j) * d.hw + p], &ey[(size_t)j * (bins - 2)], bins);
          ++h[(((size_t)i * cy + j) * bins + a) * bins + b];
        }
  return h;
}

}  // namespace

TEST_CASE("stats accumulators: edge samples, joint histograms, MI and top-k over batches (CPU)") {
  const Nets d(60, 144, 5);  // 8640 samples per unit
  const int bins = 10;
  Results r = run_passes(Device::cpu(), d, 7, bins);

  // The subsample is a fixed set of samples whatever the batching: whole-set batches agree.
  Results whole = run_passes(Device::cpu(), d, d.n, bins);
  CHECK(whole.samples == r.samples);
  CHECK(whole.edges == r.edges);
  // ~1/every of 8640 samples with every = ceil(1.25 * 8640 / 2000) = 6: about 1440.
  CHECK(r.samples[0].size() > 1200);
  CHECK(r.samples[0].size() < 1700);
  // Its values are those of the selected samples, for every unit.
  std::vector<int> sel;
  for (int i0 = 0; i0 < d.n; i0 += 7)
    for (int s : select_samples(100 + i0, std::min(7, d.n - i0), d.hw, 6, 7)) sel.push_back(i0 * d.hw + s);
  REQUIRE(sel.size() == r.samples[0].size());
  for (int u = 0; u < Nets::ca; ++u)
    for (size_t j = 0; j < sel.size(); ++j) {
      const int img = sel[j] / d.hw, p = sel[j] % d.hw;
      if (r.samples[u][j] != d.A[((size_t)img * Nets::ca + u) * d.hw + p]) FAIL("sample ", j, " of unit ", u);
    }

  // Joint histograms equal the naive count; marginals are the joint's row sums.
  CHECK(r.jab == naive_joint(d, d.A, Nets::ca, r.edges[0], d.B, Nets::cb, r.edges[1], bins));
  CHECK(r.jac == naive_joint(d, d.A, Nets::ca, r.edges[0], d.C, Nets::ca, r.edges[2], bins));
  CHECK(r.jbc == naive_joint(d, d.B, Nets::cb, r.edges[1], d.C, Nets::ca, r.edges[2], bins));
  for (int u = 0; u < Nets::ca; ++u)
    for (int a = 0; a < bins; ++a) {
      uint64_t row = 0;
      for (int b = 0; b < bins; ++b) row += r.jab[((size_t)u * Nets::cb * bins + a) * bins + b];
      CHECK(r.ma[(size_t)u * bins + a] == row);
    }

  // MI between A and its permuted copy C: C's unit perm[u] holds A's unit u, sampled alike, so it
  // gets the same edges and bins: MI = the unit's binned entropy, and the MI matching recovers perm.
  auto mi = mutual_information_matrix(r.jac.data(), Nets::ca, Nets::ca, bins, false);
  for (int u = 0; u < Nets::ca; ++u) {
    CHECK(mi[u * Nets::ca + d.perm[u]] == doctest::Approx(entropy(&r.ma[(size_t)u * bins], bins)).epsilon(1e-12));
    CHECK(std::max_element(&mi[u * Nets::ca], &mi[u * Nets::ca + Nets::ca]) - &mi[u * Nets::ca] == d.perm[u]);
  }
  // A vs B: B's unit j follows A's unit j, so its best MI partner is j.
  auto mab = mutual_information_matrix(r.jab.data(), Nets::ca, Nets::cb, bins, true);
  for (int j = 0; j < Nets::cb; ++j) {
    int best = 0;
    for (int u = 1; u < Nets::ca; ++u)
      if (mab[u * Nets::cb + j] > mab[best * Nets::cb + j]) best = u;
    CHECK(best == j);
  }

  // Top-k against a full sort of (max over positions, image id).
  for (int u = 0; u < Nets::ca; ++u) {
    std::vector<TopEntry> all;
    for (int i = 0; i < d.n; ++i) {
      const float* row = &d.A[((size_t)i * Nets::ca + u) * d.hw];
      const int p = (int)(std::max_element(row, row + d.hw) - row);  // first maximum
      all.push_back({row[p], 100 + i, p / Nets::width, p % Nets::width});
    }
    std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.value > b.value; });
    REQUIRE(r.top[u].size() == 9);
    for (int t = 0; t < 9; ++t) {
      CHECK(r.top[u][t].value == all[t].value);
      CHECK(r.top[u][t].image == all[t].image);
      CHECK(r.top[u][t].y == all[t].y);
      CHECK(r.top[u][t].x == all[t].x);
    }
  }
  TopKAccumulator few(Device::cpu(), 2, 9);
  few.add_batch(d.A.data(), 0, 3, d.hw);  // 3 images (A's memory read as 2 units): 3 entries per unit
  CHECK(few.result()[0].size() == 3);

  CHECK_THROWS_AS(JointHistogramAccumulator(Device::cpu(), {Nets::ca}, bins, {std::vector<float>(3)}), std::logic_error);
}

TEST_CASE("stats accumulators: GPU matches CPU exactly") {
  if (!test::gpu_or_skip()) return;
  const Nets d(60, 144, 5);
  const int bins = 10;
  Results c = run_passes(Device::cpu(), d, 7, bins), g = run_passes(Device{Device::CUDA, 0}, d, 7, bins);
  // Integer counts, gathered values and top-k entries: no arithmetic differs, so exact equality.
  bool same = g.samples == c.samples && g.edges == c.edges && g.jab == c.jab && g.jac == c.jac && g.jbc == c.jbc && g.ma == c.ma;
  for (size_t u = 0; u < c.top.size(); ++u)
    for (size_t t = 0; t < c.top[u].size(); ++t)
      same = same && g.top[u][t].value == c.top[u][t].value && g.top[u][t].image == c.top[u][t].image &&
             g.top[u][t].y == c.top[u][t].y && g.top[u][t].x == c.top[u][t].x;
  test::record_gpu_result("stats_accumulators", same ? 0.0 : INFINITY);
  CHECK(same);
}
