#include "analysis/stats/correlate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/stats/mutual_info.h"
#include "base/io.h"
#include "base/progress.h"

namespace cvg {

using json = nlohmann::json;

namespace {

// Mean over i of max_j M[i, j] (rows) and the argmax; `skip_diag` for within-net best partners.
std::vector<int64_t> best_partners(const std::vector<double>& M, int rows, int cols, bool transpose, bool skip_diag) {
  int n = transpose ? cols : rows, m = transpose ? rows : cols;
  std::vector<int64_t> best(n, -1);
  for (int i = 0; i < n; ++i) {
    double bv = -INFINITY;
    for (int j = 0; j < m; ++j) {
      if (skip_diag && i == j) continue;
      double v = transpose ? M[(size_t)j * cols + i] : M[(size_t)i * cols + j];
      if (v > bv) bv = v, best[i] = j;
    }
  }
  return best;
}

double mean_of(const std::vector<double>& M, int rows, int cols, const std::vector<int64_t>& partner, bool transpose) {
  double s = 0;
  int k = 0;
  for (size_t i = 0; i < partner.size(); ++i) {
    if (partner[i] < 0) continue;
    s += transpose ? M[(size_t)partner[i] * cols + i] : M[i * (size_t)cols + partner[i]];
    ++k;
  }
  return k ? s / k : NAN;
}

}  // namespace

PairResult compare_pair(const LayerStats& s, const std::vector<int>& units, int a, int b, Solver solver, const Device& dev) {
  PairResult r;
  r.a = a, r.b = b;
  const int ca = units[a], cb = units[b];
  if (!(0 <= a && a < b && b < (int)units.size())) throw std::logic_error("compare_pair: bad pair");
  const int K = (int)units.size();
  const int pair = a * (2 * K - a - 1) / 2 + (b - a - 1);  // pairs (0,1), (0,2), ..., (1,2), ...
  r.between = s.between[pair];
  const std::vector<double>& C = r.between;
  r.semi_ab = best_partners(C, ca, cb, false, false);
  r.semi_ba = best_partners(C, ca, cb, true, false);
  r.bipartite = assign(C.data(), ca, cb, solver, /*minimize=*/false, dev);
  auto within_best = [&](int net) {
    int c = units[net];
    return mean_of(s.within[net], c, c, best_partners(s.within[net], c, c, false, true), false);
  };
  int mutual = 0, same = 0, matched = 0;
  for (int i = 0; i < ca; ++i) {
    if (r.semi_ab[i] >= 0 && r.semi_ba[r.semi_ab[i]] == i) ++mutual;
    if (r.bipartite.row_to_col[i] >= 0) ++matched, same += r.bipartite.row_to_col[i] == r.semi_ab[i];
  }
  std::vector<std::pair<double, int>> pairs;
  for (int i = 0; i < ca; ++i)
    if (r.bipartite.row_to_col[i] >= 0) pairs.push_back({C[(size_t)i * cb + r.bipartite.row_to_col[i]], i});
  std::sort(pairs.begin(), pairs.end(), [](auto& x, auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
  json sorted = json::array();
  for (auto& [v, i] : pairs) sorted.push_back({{"unit_a", i}, {"unit_b", r.bipartite.row_to_col[i]}, {"corr", v}});
  const double all_mean = std::accumulate(C.begin(), C.end(), 0.0) / C.size();
  // Nets of different widths: the bipartite matching pairs min(ca, cb) units; the rest are unmatched.
  std::vector<int> unmatched_a, unmatched_b;
  std::vector<char> used(cb, 0);
  for (int i = 0; i < ca; ++i)
    if (r.bipartite.row_to_col[i] >= 0) used[r.bipartite.row_to_col[i]] = 1;
    else unmatched_a.push_back(i);
  for (int j = 0; j < cb; ++j)
    if (!used[j]) unmatched_b.push_back(j);
  r.summary = {{"nets", {a, b}},
               {"units", {ca, cb}},
               {"semi_matching_ab", mean_of(C, ca, cb, r.semi_ab, false)},
               {"semi_matching_ba", mean_of(C, ca, cb, r.semi_ba, true)},
               {"bipartite", r.bipartite.objective / std::max(matched, 1)},
               {"within_best_a", within_best(a)},
               {"within_best_b", within_best(b)},
               {"random_permutation_expected", all_mean},
               {"mutual_best_partners", mutual},
               {"same_partner_semi_and_bipartite", (double)same / std::max(matched, 1)},
               {"solver", r.bipartite.solver},
               {"unmatched_a", unmatched_a},
               {"unmatched_b", unmatched_b},
               {"matched_pairs_best_first", sorted}};
  return r;
}


std::vector<LayerResult> correlate_nets(const std::vector<Net*>& nets, const Dataset& data, const CorrelateOptions& opt) {
  const std::vector<std::string> layers = comparable_layers(nets, opt.layers);
  const Device dev = nets[0]->device();
  const int K = (int)nets.size();
  const int batch = std::min(opt.batch, nets[0]->max_batch());
  if (opt.max_images == 0 || opt.max_images < -1)
    throw InputError("--max-images must be positive (or -1: the whole split), got " + std::to_string(opt.max_images));
  size_t images = data.size();
  if (opt.max_images > 0) images = std::min(images, (size_t)opt.max_images);
  const size_t batches = (images + batch - 1) / batch;

  std::vector<LayerResult> results(layers.size());
  std::vector<MomentAccumulator> acc;
  // Mutual information, per layer that asks for it: value subsamples for the percentile bin edges
  // in the first pass, joint histograms in a second one.
  std::vector<std::vector<EdgeSampler>> samplers(layers.size());
  std::vector<std::unique_ptr<JointHistogramAccumulator>> joint(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    std::vector<int> units;
    for (Net* n : nets) units.push_back(n->units(layers[l]).dim(1));
    const Tensor& t = nets[0]->units(layers[l]);
    results[l].name = layers[l];
    results[l].hw = t.dim(2) * t.dim(3);
    acc.emplace_back(dev, units);
    if (std::find(opt.mi_layers.begin(), opt.mi_layers.end(), layers[l]) != opt.mi_layers.end())
      for (int k = 0; k < K; ++k) samplers[l].emplace_back(dev, units[k], (uint64_t)images * results[l].hw, opt.mi_samples);
  }

  auto run_pass = [&](const char* label, const std::function<void(int, long)>& per_batch) {
    Loader loader(data, batch, /*shuffle=*/false, /*train_augment=*/false, /*drop_last=*/false, 0, opt.threads);
    ImageShape s = data.shape();
    std::vector<float> x((size_t)batch * s.size());
    std::vector<int32_t> y(batch);
    Progress bar(label, (long long)batches, "img");
    long image0 = 0;
    for (size_t b = 0; b < batches; ++b) {
      int n = loader.next(x.data(), y.data());
      if (image0 + n > (long)images) n = (int)(images - image0);
      for (Net* net : nets) {
        net->set_batch(x.data(), y.data(), n);
        net->forward(/*train=*/false, 0);
      }
      per_batch(n, image0);
      image0 += n;
      if (!opt.quiet) bar.update((long long)b + 1, (double)image0);
    }
  };

  // Pass 1: moments for every layer (and the MI layers' value subsamples).
  run_pass("statistics", [&](int n, long image0) {
    for (size_t l = 0; l < layers.size(); ++l) {
      std::vector<const float*> acts;
      for (Net* net : nets) acts.push_back(net->units(layers[l]).ptr());
      acc[l].add_batch(acts, n, results[l].hw);
      for (int k = 0; k < (int)samplers[l].size(); ++k) samplers[l][k].add_batch(acts[k], image0, n, results[l].hw);
    }
  });
  bool any_mi = false;
  for (size_t l = 0; l < layers.size(); ++l) {
    results[l].moments = acc[l].moments();
    results[l].stats = finalize(results[l].moments);
    if (samplers[l].empty()) continue;
    std::vector<std::vector<float>> edges;
    for (EdgeSampler& e : samplers[l]) edges.push_back(e.edges(opt.mi_bins));
    joint[l] = std::make_unique<JointHistogramAccumulator>(dev, results[l].moments.units, opt.mi_bins, edges);
    any_mi = true;
  }
  // Pass 2, only for MI: joint histograms of every pair of units with per-unit percentile bins.
  if (any_mi)
    run_pass("mutual information", [&](int n, long) {
      for (size_t l = 0; l < layers.size(); ++l) {
        if (!joint[l]) continue;
        std::vector<const float*> acts;
        for (Net* net : nets) acts.push_back(net->units(layers[l]).ptr());
        joint[l]->add_batch(acts, n, results[l].hw);
      }
    });

  // Per pair: matching and summary (and MI-based matching).
  for (size_t l = 0; l < layers.size(); ++l) {
    LayerResult& r = results[l];
    const std::vector<int>& units = r.moments.units;
    for (int p = 0; p < K; ++p)
      for (int q = p + 1; q < K; ++q) {
        PairResult pr = compare_pair(r.stats, units, p, q, opt.solver, dev);
        if (joint[l]) {
          std::vector<uint64_t> counts = joint[l]->joint(p, q);
          pr.mi = mutual_information_matrix(counts.data(), units[p], units[q], opt.mi_bins, /*bias_correct=*/true);
          pr.mi_bipartite = assign(pr.mi.data(), units[p], units[q], opt.solver, false, dev);
          int agree = 0, matched = 0;
          for (int i = 0; i < units[p]; ++i)
            if (pr.bipartite.row_to_col[i] >= 0) ++matched, agree += pr.bipartite.row_to_col[i] == pr.mi_bipartite.row_to_col[i];
          // The paper's check: of the 8 best pairs by correlation, how many MI matches identically.
          int top_same = 0, top = 0;
          for (const json& m : pr.summary["matched_pairs_best_first"]) {
            if (top == 8) break;
            ++top;
            top_same += pr.mi_bipartite.row_to_col[m["unit_a"].get<int>()] == m["unit_b"].get<int64_t>();
          }
          pr.summary["mi_bipartite_mean_nats"] = pr.mi_bipartite.objective / std::max(matched, 1);
          pr.summary["mi_agrees_with_correlation"] = (double)agree / std::max(matched, 1);
          pr.summary["mi_same_in_top8_correlation_pairs"] = top_same;
          pr.summary["mi_bins"] = opt.mi_bins;
        }
        r.pairs.push_back(std::move(pr));
      }
  }
  return results;
}

}  // namespace cvg
