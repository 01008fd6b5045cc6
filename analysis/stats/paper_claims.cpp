#include "analysis/stats/paper_claims.h"

#include "analysis/stats/correlate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <stdexcept>

namespace cvg {

NetResampler::NetResampler(int nets, int draws, uint64_t seed) : k_(nets) {
  if (nets < 2) throw std::logic_error("NetResampler: needs at least two nets");
  long long total = 1;
  for (int i = 0; i < nets && total <= kMaxExactDraws; ++i) total *= nets;
  exact_ = total <= kMaxExactDraws;
  if (exact_) {
    std::vector<int> d(nets, 0);
    for (long long t = 0; t < total; ++t) {  // d counts in base K
      draws_.push_back(d);
      for (int i = 0; i < nets && ++d[i] == nets; ++i) d[i] = 0;
    }
  } else {
    std::mt19937_64 rng(seed);  // specified by the standard: the same draws everywhere
    for (int t = 0; t < draws; ++t) {
      std::vector<int> d(nets);
      for (int& x : d) x = (int)(rng() % (uint64_t)nets);
      draws_.push_back(d);
    }
  }
}

std::vector<double> NetResampler::replicates(const PairValues& v) const {
  if (v.size() != (size_t)k_ * k_) throw std::logic_error("NetResampler: pair values of the wrong size");
  std::vector<double> out;
  out.reserve(draws_.size());
  for (const std::vector<int>& d : draws_) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < k_; ++i)
      for (int j = i + 1; j < k_; ++j)
        if (d[i] != d[j]) sum += v[(size_t)std::min(d[i], d[j]) * k_ + std::max(d[i], d[j])], ++n;
    if (n > 0) out.push_back(sum / n);
  }
  return out;
}

namespace {

double quantile(std::vector<double>& sorted, double q) {  // linear between order statistics
  const double pos = q * (sorted.size() - 1);
  const size_t i = (size_t)pos;
  return i + 1 < sorted.size() ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

Spread spread_of(const NetResampler& r, const PairValues& v) {
  Spread s;
  const int k = r.nets();
  s.min = INFINITY, s.max = -INFINITY;
  int n = 0;
  for (int a = 0; a < k; ++a)
    for (int b = a + 1; b < k; ++b) {
      const double x = v[(size_t)a * k + b];
      s.mean += x, s.min = std::min(s.min, x), s.max = std::max(s.max, x), ++n;
    }
  s.mean /= n;
  s.lo = s.hi = s.mean;
  s.decided = k >= 3;
  if (s.decided) {
    std::vector<double> rep = r.replicates(v);
    std::sort(rep.begin(), rep.end());
    s.lo = quantile(rep, 0.025), s.hi = quantile(rep, 0.975);
  }
  return s;
}

}  // namespace

Spread NetResampler::spread(const PairValues& v) const { return spread_of(*this, v); }

Spread NetResampler::difference(const PairValues& x, const PairValues& y) const {
  if (x.size() != y.size()) throw std::logic_error("NetResampler::difference: sizes differ");
  PairValues d(x.size());
  for (size_t i = 0; i < x.size(); ++i) d[i] = x[i] - y[i];
  return spread_of(*this, d);
}

PaperFigures paper_figures(const std::string& layer) {
  static const std::map<std::string, PaperFigures> table = {{"conv1", {0.703, 0.663, 0.73}},
                                                            {"conv2", {0.556, 0.507, 0.58}},
                                                            {"conv3", {0.478, 0.446, 0.62}},
                                                            {"conv4", {0.369, 0.342, 0.58}},
                                                            {"conv5", {0.416, 0.385, 0.64}}};
  auto it = table.find(layer);
  return it == table.end() ? PaperFigures{} : it->second;
}

std::map<double, double> paper_sparse_loss(const std::string& layer) {
  static const std::map<std::string, std::map<double, double>> table = {
      {"conv1", {{0, 0.170}, {1e-5, 0.169}, {1e-4, 0.162}, {1e-3, 0.172}, {1e-2, 0.485}, {1e-1, 0.519}}},
      {"conv2", {{0, 0.373}, {1e-5, 0.368}, {1e-4, 0.337}, {1e-3, 0.392}, {1e-2, 0.518}, {1e-1, 0.513}}}};
  auto it = table.find(layer);
  return it == table.end() ? std::map<double, double>{} : it->second;
}

namespace {

std::string fmt_diff(const std::string& what, const Spread& d) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s %+.3f [%+.3f, %+.3f]", what.c_str(), d.mean, d.lo, d.hi);
  return buf;
}

// Every comparison must be > 0 for "supported"; one clearly < 0 is "contradicted".
ClaimVerdict judge(const std::string& claim, const std::vector<std::pair<std::string, Spread>>& diffs, double threshold = 0) {
  ClaimVerdict c{claim, "cannot decide", ""};
  bool all_above = !diffs.empty(), any_below = false;
  for (const auto& [what, d] : diffs) {
    if (!c.evidence.empty()) c.evidence += "; ";
    c.evidence += fmt_diff(what, d);
    all_above = all_above && d.decided && d.lo > threshold;
    any_below = any_below || (d.decided && d.hi < threshold);
  }
  if (any_below)
    c.verdict = "contradicted";
  else if (all_above)
    c.verdict = "supported";
  return c;
}

}  // namespace

std::vector<ClaimVerdict> paper_claims(const std::vector<LayerPairStats>& layers, const NetResampler& nets) {
  std::map<std::string, const LayerPairStats*> by;
  for (const LayerPairStats& l : layers) by[l.layer] = &l;
  std::vector<std::string> convs;
  for (const char* c : {"conv1", "conv2", "conv3", "conv4", "conv5"})
    if (by.count(c)) convs.push_back(c);
  const std::string why_not = nets.nets() < 3 ? "needs at least 3 nets: with 2 there is no spread over nets" : "";
  auto missing = [&](const std::vector<std::string>& need) -> const char* {
    for (const std::string& l : need)
      if (!by.count(l)) return "a layer it needs was not analysed";
    return nullptr;
  };
  // The comparisons use the bipartite means; "x - y" is x's mean matched correlation minus y's.
  auto bip_diff = [&](const std::string& x, const std::string& y) {
    return std::make_pair(x + " - " + y, nets.difference(by[x]->bipartite, by[y]->bipartite));
  };
  std::vector<ClaimVerdict> out;
  auto add = [&](ClaimVerdict c, const std::vector<std::string>& need) {
    if (const char* m = missing(need))
      c.verdict = "cannot decide", c.evidence = m;
    else if (!why_not.empty())
      c.verdict = "cannot decide", c.evidence = why_not + (c.evidence.empty() ? "" : "; " + c.evidence);
    out.push_back(c);
  };
  const std::vector<std::string> five = {"conv1", "conv2", "conv3", "conv4", "conv5"};
  {
    std::vector<std::pair<std::string, Spread>> d;
    if (!missing(five))
      for (const std::string& l : five)
        if (l != "conv1") d.push_back(bip_diff("conv1", l));
    add(judge("conv1 is the best matched conv layer (bipartite)", d), five);
  }
  {
    std::vector<std::pair<std::string, Spread>> d;
    if (!missing(five))
      for (const std::string& l : five)
        if (l != "conv4") d.push_back(bip_diff(l, "conv4"));
    add(judge("conv4 is the worst matched conv layer (bipartite)", d), five);
  }
  {
    std::vector<std::pair<std::string, Spread>> d;
    if (!missing({"conv4", "conv5"})) d.push_back(bip_diff("conv5", "conv4"));
    add(judge("conv5 recovers above conv4 (bipartite)", d), {"conv4", "conv5"});
  }
  {
    std::vector<std::pair<std::string, Spread>> d;
    for (const std::string& l : convs) d.push_back({"semi - bipartite, " + l, nets.difference(by[l]->semi, by[l]->bipartite)});
    ClaimVerdict c =
        judge("bipartite means lie below semi-matching means (never above, by construction; the question is the gap)", d);
    add(c, convs.empty() ? std::vector<std::string>{"conv1"} : convs);
  }
  {
    std::vector<std::pair<std::string, Spread>> d;
    std::vector<std::string> need;
    for (const char* l : {"conv1", "conv2"})
      if (by.count(l) && !by[l]->mi_agree.empty()) {
        Spread s = nets.spread(by[l]->mi_agree);
        s.mean -= 0.5, s.lo -= 0.5, s.hi -= 0.5, s.min -= 0.5, s.max -= 0.5;
        d.push_back({std::string("share of MI partners that are the correlation partner - 0.5, ") + l, s});
      } else {
        need.push_back(l);
      }
    ClaimVerdict c = judge("correlation and mutual-information matchings mostly agree (conv1, conv2)", d);
    if (!need.empty()) c.verdict = "cannot decide", c.evidence = "MI was not computed for " + need[0] + " (bin/correlate --mi-layers)";
    add(c, {});
  }
  return out;
}

std::vector<LayerPairStats> pair_stats(const std::vector<LayerResult>& layers, int k) {
  std::vector<LayerPairStats> out;
  for (const LayerResult& r : layers) {
    LayerPairStats s;
    s.layer = r.name;
    for (PairValues* v : {&s.semi, &s.bipartite, &s.random}) v->assign((size_t)k * k, 0.0);
    bool mi = false;
    for (const PairResult& p : r.pairs) mi = mi || p.summary.contains("mi_agrees_with_correlation");
    if (mi) s.mi_agree.assign((size_t)k * k, 0.0);
    for (const PairResult& p : r.pairs) {
      const size_t i = (size_t)std::min(p.a, p.b) * k + std::max(p.a, p.b);
      const nlohmann::json& j = p.summary;
      s.semi[i] = 0.5 * (j.at("semi_matching_ab").get<double>() + j.at("semi_matching_ba").get<double>());
      s.bipartite[i] = j.at("bipartite").get<double>();
      s.random[i] = j.at("random_permutation_expected").get<double>();
      if (mi) s.mi_agree[i] = j.at("mi_agrees_with_correlation").get<double>();
    }
    out.push_back(s);
  }
  return out;
}

nlohmann::json over_pairs_json(const std::vector<LayerPairStats>& layers, const NetResampler& nets) {
  nlohmann::json out = nlohmann::json::array();
  for (const LayerPairStats& l : layers) {
    nlohmann::json j = {{"layer", l.layer},
                        {"semi", to_json(nets.spread(l.semi))},
                        {"bipartite", to_json(nets.spread(l.bipartite))},
                        {"random", to_json(nets.spread(l.random))}};
    if (!l.mi_agree.empty()) j["mi_agree"] = to_json(nets.spread(l.mi_agree));
    out.push_back(j);
  }
  return out;
}

nlohmann::json to_json(const Spread& s) {
  nlohmann::json j = {{"mean_over_pairs", s.mean}, {"min_over_pairs", s.min}, {"max_over_pairs", s.max}};
  if (s.decided)
    j["net_resampling_95"] = {s.lo, s.hi};
  else
    j["net_resampling_95"] = nullptr;
  return j;
}

nlohmann::json to_json(const ClaimVerdict& c) { return {{"claim", c.claim}, {"verdict", c.verdict}, {"evidence", c.evidence}}; }

}  // namespace cvg
