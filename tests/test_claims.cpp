// The spread over nets and the paper-claim verdicts (analysis/stats/paper_claims.h): replicates
// against a brute-force enumeration, degenerate and planted cases, and the verdicts' three outcomes.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "analysis/stats/paper_claims.h"

using namespace cvg;

namespace {

PairValues pairs(int k, double (*f)(int, int)) {
  PairValues v((size_t)k * k, 0.0);
  for (int a = 0; a < k; ++a)
    for (int b = a + 1; b < k; ++b) v[(size_t)a * k + b] = f(a, b);
  return v;
}

const ClaimVerdict& find(const std::vector<ClaimVerdict>& v, const std::string& start) {
  for (const ClaimVerdict& c : v)
    if (c.claim.rfind(start, 0) == 0) return c;
  FAIL("no claim starting with " << start);
  return v[0];
}

// Five conv layers whose bipartite means per pair are base[l] + wobble(pair) * noise.
std::vector<LayerPairStats> layers(int k, const double base[5], double noise, double mi = 0.8) {
  std::vector<LayerPairStats> out;
  for (int l = 0; l < 5; ++l) {
    LayerPairStats s;
    s.layer = "conv" + std::to_string(l + 1);
    s.bipartite.assign((size_t)k * k, 0), s.semi.assign((size_t)k * k, 0);
    for (int a = 0; a < k; ++a)
      for (int b = a + 1; b < k; ++b) {
        const double w = ((a * 7 + b * 3 + l * 2) % 5 - 2) / 2.0;  // in [-1, 1], differs by pair and layer
        s.bipartite[(size_t)a * k + b] = base[l] + w * noise;
        s.semi[(size_t)a * k + b] = base[l] + w * noise + 0.05;
      }
    if (l < 2) s.mi_agree = pairs(k, [](int, int) { return 0.0; }), std::fill(s.mi_agree.begin(), s.mi_agree.end(), mi);
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("claims: net resampling enumerates every draw of K nets and averages the pairs of different nets") {
  const int k = 3;
  PairValues v = pairs(k, [](int a, int b) { return (double)(1 << (a + b)); });  // 01: 2, 02: 4, 12: 8
  NetResampler r(k);
  CHECK(r.exact());
  std::vector<double> got = r.replicates(v), want;
  for (int x = 0; x < k; ++x)
    for (int y = 0; y < k; ++y)
      for (int z = 0; z < k; ++z) {
        int d[3] = {x, y, z};
        double s = 0;
        int n = 0;
        for (int i = 0; i < 3; ++i)
          for (int j = i + 1; j < 3; ++j)
            if (d[i] != d[j]) s += 1 << (d[i] + d[j]), ++n;
        if (n) want.push_back(s / n);
      }
  REQUIRE(got.size() == want.size());  // 27 draws less the 3 that hold one net only
  CHECK(got.size() == 24);
  std::sort(got.begin(), got.end()), std::sort(want.begin(), want.end());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-15));
  Spread s = r.spread(v);
  CHECK(s.mean == doctest::Approx(14.0 / 3));
  CHECK(s.min == 2);
  CHECK(s.max == 8);
  CHECK(s.lo >= 2);
  CHECK(s.hi <= 8);
  CHECK(s.lo < s.mean);
  CHECK(s.hi > s.mean);
}

TEST_CASE("claims: equal pairs give a zero-width interval; many nets are sampled with a seed, reproducibly") {
  NetResampler r(4);
  Spread s = r.spread(pairs(4, [](int, int) { return 0.25; }));
  CHECK(s.decided);
  CHECK(s.lo == doctest::Approx(0.25));
  CHECK(s.hi == doctest::Approx(0.25));
  NetResampler a(8, 500, 7), b(8, 500, 7), c(8, 500, 8);
  CHECK(!a.exact());
  PairValues v = pairs(8, [](int x, int y) { return (double)(x * 8 + y); });
  CHECK(a.replicates(v) == b.replicates(v));
  CHECK(a.replicates(v) != c.replicates(v));
}

TEST_CASE("claims: planted orderings are supported, reversed ones contradicted, noisy ones undecided") {
  const int k = 4;
  NetResampler r(k);
  const double paper_like[5] = {0.9, 0.6, 0.5, 0.3, 0.4};  // conv1 best, conv4 worst, conv5 > conv4
  std::vector<ClaimVerdict> v = paper_claims(layers(k, paper_like, 0.01), r);
  CHECK(find(v, "conv1 is the best").verdict == "supported");
  CHECK(find(v, "conv4 is the worst").verdict == "supported");
  CHECK(find(v, "conv5 recovers").verdict == "supported");
  CHECK(find(v, "bipartite means lie below").verdict == "supported");
  CHECK(find(v, "correlation and mutual").verdict == "supported");

  const double reversed[5] = {0.2, 0.6, 0.5, 0.9, 0.4};
  v = paper_claims(layers(k, reversed, 0.01, 0.2), r);
  CHECK(find(v, "conv1 is the best").verdict == "contradicted");
  CHECK(find(v, "conv4 is the worst").verdict == "contradicted");
  CHECK(find(v, "conv5 recovers").verdict == "contradicted");
  CHECK(find(v, "correlation and mutual").verdict == "contradicted");

  const double close[5] = {0.9, 0.6, 0.5, 0.40, 0.41};  // conv5 - conv4 = 0.01, pairs wobble by +-0.2
  v = paper_claims(layers(k, close, 0.2), r);
  CHECK(find(v, "conv5 recovers").verdict == "cannot decide");
  CHECK(find(v, "conv5 recovers").evidence.find("conv5 - conv4") != std::string::npos);
}

TEST_CASE("claims: two nets or missing layers cannot decide, and say why") {
  const double paper_like[5] = {0.9, 0.6, 0.5, 0.3, 0.4};
  for (const ClaimVerdict& c : paper_claims(layers(2, paper_like, 0.0), NetResampler(2))) {
    CHECK(c.verdict == "cannot decide");
    CHECK(c.evidence.find("at least 3 nets") != std::string::npos);
  }
  std::vector<LayerPairStats> no_conv3 = layers(4, paper_like, 0.0);
  no_conv3.erase(no_conv3.begin() + 2);
  const std::vector<ClaimVerdict> v = paper_claims(no_conv3, NetResampler(4));
  const ClaimVerdict& c = find(v, "conv1 is the best");
  CHECK(c.verdict == "cannot decide");
  CHECK(c.evidence == "a layer it needs was not analysed");
  CHECK(paper_figures("conv4").bipartite == 0.342);
  CHECK(paper_figures("fc6").bipartite < 0);
}
