#include "analysis/stats/correlate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <cmath>
#include <numeric>
#include <optional>

#include "analysis/match/multiway.h"
#include "analysis/stats/bootstrap.h"
#include "analysis/stats/mutual_info.h"
#include "base/dist.h"
#include "base/io.h"
#include "base/progress.h"

namespace cvg {

using json = nlohmann::json;

namespace {

// Each live row's (or, transposed, column's) best live partner: the argmax over the live entries,
// -1 for a dead one. `skip_diag` for within-net best partners.
std::vector<int64_t> best_partners(const std::vector<double>& M, int rows, int cols, bool transpose, bool skip_diag,
                                   const std::vector<char>& live_rows, const std::vector<char>& live_cols) {
  const int n = transpose ? cols : rows, m = transpose ? rows : cols;
  const std::vector<char>& live_i = transpose ? live_cols : live_rows;
  const std::vector<char>& live_j = transpose ? live_rows : live_cols;
  std::vector<int64_t> best(n, -1);
  for (int i = 0; i < n; ++i) {
    if (!live_i[i]) continue;
    double bv = -INFINITY;
    for (int j = 0; j < m; ++j) {
      if ((skip_diag && i == j) || !live_j[j]) continue;
      double v = transpose ? M[(size_t)j * cols + i] : M[(size_t)i * cols + j];
      if (v > bv) bv = v, best[i] = j;
    }
  }
  return best;
}

// Mean of M over the (row, partner) pairs that have a partner.
double mean_of(const std::vector<double>& M, int cols, const std::vector<int64_t>& partner, bool transpose) {
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

const std::vector<ScoreField> kIntervalScores = {
    {"semi_matching_ab", &PairScores::semi_ab},   {"semi_matching_ba", &PairScores::semi_ba},
    {"bipartite", &PairScores::bipartite},        {"within_best_a", &PairScores::within_a},
    {"within_best_b", &PairScores::within_b},     {"random_permutation_expected", &PairScores::random},
    {"mutual_best_partners", &PairScores::mutual}};

PairResult compare_pair(const LayerStats& s, const std::vector<int>& units, int a, int b, Solver solver, const Device& dev,
                        bool summary) {
  PairResult r;
  r.a = a, r.b = b;
  if (!(0 <= a && a < b && b < (int)units.size())) throw std::logic_error("compare_pair: bad pair");
  const int ca = units[a], cb = units[b];
  const int K = (int)units.size();
  const int pair = a * (2 * K - a - 1) / 2 + (b - a - 1);  // pairs (0,1), (0,2), ..., (1,2), ...
  r.between = s.between[pair];
  const std::vector<double>& C = r.between;
  const std::vector<char> la = live_units(ca, s.zero_variance[a]), lb = live_units(cb, s.zero_variance[b]);
  r.semi_ab = best_partners(C, ca, cb, false, false, la, lb);
  r.semi_ba = best_partners(C, ca, cb, true, false, la, lb);
  r.bipartite = assign_live(C, ca, cb, la, lb, solver, dev);
  auto within_best = [&](int net, const std::vector<char>& live) {
    const int c = units[net];
    return mean_of(s.within[net], c, best_partners(s.within[net], c, c, false, true, live, live), false);
  };
  int mutual = 0, same = 0, matched = 0;
  for (int i = 0; i < ca; ++i) {
    if (r.semi_ab[i] >= 0 && r.semi_ba[r.semi_ab[i]] == i) ++mutual;
    if (r.bipartite.row_to_col[i] >= 0) ++matched, same += r.bipartite.row_to_col[i] == r.semi_ab[i];
  }
  double live_sum = 0;
  long live_cells = 0;
  for (int i = 0; i < ca; ++i)
    for (int j = 0; j < cb; ++j)
      if (la[i] && lb[j]) live_sum += C[(size_t)i * cb + j], ++live_cells;
  PairScores& sc = r.scores;
  sc.semi_ab = mean_of(C, cb, r.semi_ab, false);
  sc.semi_ba = mean_of(C, cb, r.semi_ba, true);
  sc.bipartite = matched ? r.bipartite.objective / matched : NAN;
  sc.within_a = within_best(a, la), sc.within_b = within_best(b, lb);
  sc.random = live_cells ? live_sum / live_cells : NAN;
  sc.mutual = mutual;
  sc.same = matched ? (double)same / matched : NAN;
  if (!summary) return r;

  std::vector<std::pair<double, int>> pairs;
  for (int i = 0; i < ca; ++i)
    if (r.bipartite.row_to_col[i] >= 0) pairs.push_back({C[(size_t)i * cb + r.bipartite.row_to_col[i]], i});
  std::sort(pairs.begin(), pairs.end(),
            [](auto& x, auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
  json sorted = json::array();
  for (auto& [v, i] : pairs) sorted.push_back({{"unit_a", i}, {"unit_b", r.bipartite.row_to_col[i]}, {"corr", v}});
  // Live units left without a partner: nets of different widths match min(live a, live b) units.
  std::vector<int> unmatched_a, unmatched_b;
  std::vector<char> used(cb, 0);
  for (int i = 0; i < ca; ++i)
    if (r.bipartite.row_to_col[i] >= 0)
      used[r.bipartite.row_to_col[i]] = 1;
    else if (la[i])
      unmatched_a.push_back(i);
  for (int j = 0; j < cb; ++j)
    if (!used[j] && lb[j]) unmatched_b.push_back(j);
  r.summary = {{"nets", {a, b}}, {"units", {ca, cb}}};
  for (const ScoreField& f : kIntervalScores) r.summary[f.key] = sc.*f.field;
  r.summary["mutual_best_partners"] = mutual;
  r.summary["same_partner_semi_and_bipartite"] = sc.same;
  r.summary["dead_units"] = {s.zero_variance[a].size(), s.zero_variance[b].size()};
  r.summary["solver"] = r.bipartite.solver;
  r.summary["unmatched_a"] = unmatched_a;
  r.summary["unmatched_b"] = unmatched_b;
  r.summary["matched_pairs_best_first"] = sorted;
  return r;
}

LayerScores score_layer(const Moments& m, Solver solver, const Device& dev, bool summaries) {
  LayerScores r;
  r.stats = finalize(m);
  for (int p = 0; p < m.nets(); ++p)
    for (int q = p + 1; q < m.nets(); ++q) r.pairs.push_back(compare_pair(r.stats, m.units, p, q, solver, dev, summaries));
  return r;
}

size_t block_memory_bytes(const std::vector<std::vector<int>>& units_per_layer, int blocks) {
  if (blocks <= 0) return 0;
  size_t b = 0;
  for (const std::vector<int>& u : units_per_layer) b += 2 * MomentAccumulator::bytes(u, blocks);
  return b;
}

json bootstrap_layer(const std::vector<Moments>& blocks, int resamples, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  const int K = blocks.at(0).nets();
  double matching_seconds = 0;
  const std::vector<std::vector<double>> reps = bootstrap_replicates(blocks, resamples, seed, [&](const Moments& m) {
    std::vector<double> v;
    for (const PairResult& p : score_layer(m, Solver::Exact, Device::cpu(), /*summaries=*/false).pairs) {
      for (const ScoreField& f : kIntervalScores) v.push_back(p.scores.*f.field);
#pragma omp atomic
      matching_seconds += p.bipartite.seconds;
    }
    return v;
  });
  const std::vector<Interval> iv = intervals(reps);
  json pairs = json::array();
  size_t i = 0;
  for (int p = 0; p < K; ++p)
    for (int q = p + 1; q < K; ++q) {
      json pj = {{"nets", {p, q}}};
      for (const ScoreField& f : kIntervalScores) {
        const Interval& x = iv.at(i++);
        pj[f.key] = {x.lo, x.hi};
      }
      pairs.push_back(pj);
    }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {{"resamples", resamples}, {"blocks", blocks.size()}, {"seed", seed},
          {"level", 0.95},          {"seconds", seconds},      {"matching_seconds", matching_seconds},
          {"pairs", pairs}};
}

namespace {

// MemAvailable of /proc/meminfo in bytes (0 when unknown).
size_t available_host_bytes() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  std::fclose(f);
  return (size_t)kb * 1024;
}

json multiway_json(const LayerResult& r, double threshold) {
  std::vector<std::vector<int64_t>> matching;
  std::vector<std::vector<double>> between;
  for (const PairResult& p : r.pairs) matching.push_back(p.bipartite.row_to_col), between.push_back(p.between);
  const Multiway m = multiway_matching(r.moments.units, r.stats.zero_variance, matching, between, threshold);
  json universal = json::array(), count = json::array();
  for (const std::vector<UniversalUnit>& net : m.universal) {
    json units = json::array();
    for (const UniversalUnit& u : net) units.push_back({{"unit", u.unit}, {"partners", u.partner}, {"corr", u.corr}});
    universal.push_back(units), count.push_back(net.size());
  }
  return {{"cycle_consistent_fraction", m.consistent_fraction},
          {"cycle_consistent", m.consistent},
          {"triples", m.triples},
          {"triple_cycle_fraction", m.triple_fraction},
          {"universal_count", count},
          {"live_units", m.live},
          {"universal_threshold", threshold},
          {"universal_units", universal}};
}

}  // namespace

std::vector<LayerResult> correlate_nets(const std::vector<Net*>& nets, const Dataset& data, const CorrelateOptions& opt) {
  const std::vector<std::string> layers = comparable_layers(nets, opt.layers);
  const Device dev = nets[0]->device();
  const int K = (int)nets.size();
  const int batch = std::min(opt.batch, nets[0]->max_batch());
  if (opt.max_images == 0 || opt.max_images < -1)
    throw InputError("--max-images must be positive (or -1: the whole split), got " + std::to_string(opt.max_images));
  if (opt.blocks < 0 || opt.bootstrap < 0) throw InputError("--blocks and --bootstrap must be >= 0");
  if (opt.bootstrap > 0 && opt.blocks < 2) throw InputError("--bootstrap needs --blocks of at least 2");
  size_t images = data.size();
  if (opt.max_images > 0) images = std::min(images, (size_t)opt.max_images);
  const size_t batches = (images + batch - 1) / batch;

  // Per layer: its result and what accumulates it. Mutual information, for the layers that ask
  // for it: value subsamples for the percentile bin edges in the first pass, joint histograms in a
  // second one.
  struct Layer {
    LayerResult result;
    std::unique_ptr<MomentAccumulator> moments;
    std::vector<EdgeSampler> samplers;
    std::unique_ptr<JointHistogramAccumulator> joint;
  };
  std::vector<Layer> work(layers.size());
  std::vector<std::vector<int>> units_per_layer;
  for (const std::string& l : layers) {
    units_per_layer.emplace_back();
    for (Net* n : nets) units_per_layer.back().push_back(n->units(l).dim(1));
  }
  const size_t block_bytes = block_memory_bytes(units_per_layer, opt.blocks);
  const size_t avail = opt.memory_limit ? opt.memory_limit : available_host_bytes();
  if (opt.blocks > 0 && avail > 0 && block_bytes > avail)
    throw InputError("--blocks " + std::to_string(opt.blocks) + ": the block moments need " + std::to_string(block_bytes >> 20) +
                     " MiB but " + std::to_string(avail >> 20) +
                     " MiB of memory are available; use fewer --blocks, fewer nets or --layers");
  for (size_t l = 0; l < layers.size(); ++l) {
    Layer& w = work[l];
    const Tensor& t = nets[0]->units(layers[l]);
    w.result.name = layers[l];
    w.result.hw = t.dim(2) * t.dim(3);
    w.moments = std::make_unique<MomentAccumulator>(dev, units_per_layer[l], opt.blocks);
    if (std::find(opt.mi_layers.begin(), opt.mi_layers.end(), layers[l]) != opt.mi_layers.end())
      for (int k = 0; k < K; ++k)
        w.samplers.emplace_back(dev, units_per_layer[l][k], (uint64_t)images * w.result.hw, opt.mi_samples);
  }
  auto activations = [&](const std::string& layer) {
    std::vector<const float*> acts;
    for (Net* net : nets) acts.push_back(net->units(layer).ptr());
    return acts;
  };

  // MPI ranks (base/dist.h): batch b is rank b % ranks's; a rank loads and runs only its own
  // batches (its shard: a SubsetDataset of their images) and is told the size of the others'.
  const int ranks = dist::size(), me = dist::rank();
  std::unique_ptr<SubsetDataset> shard;
  if (ranks > 1) {
    std::vector<size_t> mine;
    for (size_t b = me; b < batches; b += ranks)
      for (size_t i = b * batch; i < std::min(images, (b + 1) * batch); ++i) mine.push_back(i);
    shard = std::make_unique<SubsetDataset>(data, std::move(mine));
  }
  const bool show = !opt.quiet && dist::is_root();
  auto run_pass = [&](const char* label, const std::function<void(int, long, bool)>& per_batch) {
    // A rank that owns no batch (fewer batches than ranks) has an empty shard, and no loader.
    std::optional<Loader> loader;
    if (!shard || shard->size() > 0)
      loader.emplace(shard ? *shard : data, batch, /*shuffle=*/false, /*train_augment=*/false, /*drop_last=*/false, 0,
                     opt.threads);
    ImageShape s = data.shape();
    std::vector<float> x((size_t)batch * s.size());
    std::vector<int32_t> y(batch);
    Progress bar(label, (long long)batches, "img");
    long image0 = 0;
    for (size_t b = 0; b < batches; ++b) {
      int n = (int)std::min<size_t>(batch, images - image0);
      const bool own = (int)(b % ranks) == me;
      if (own) {
        if (ranks > 1) dist::injected_failure("rank " + std::to_string(me) + "'s shard of " + data.describe());
        n = std::min(n, loader->next(x.data(), y.data()));
        for (Net* net : nets) {
          net->set_batch(x.data(), y.data(), n);
          net->forward(/*train=*/false, 0);
        }
      }
      per_batch(n, image0, own);
      image0 += n;
      if (show) bar.update((long long)b + 1, (double)image0);
    }
  };

  // Pass 1: moments for every layer (and the MI layers' value subsamples).
  run_pass("statistics", [&](int n, long image0, bool own) {
    for (Layer& w : work) {
      if (!own) {
        w.moments->skip_batch(n, w.result.hw);
        continue;
      }
      const std::vector<const float*> acts = activations(w.result.name);
      w.moments->add_batch(acts, n, w.result.hw, image0);
      for (int k = 0; k < (int)w.samplers.size(); ++k) w.samplers[k].add_batch(acts[k], image0, n, w.result.hw);
    }
  });
  bool any_mi = false;
  for (Layer& w : work) {
    w.moments->reduce_to_root();  // several ranks: rank 0 then holds the sums over every batch
    w.result.moments = w.moments->moments();
    for (Moments& b : w.moments->block_moments())  // blocks that got images (fewer than 16 x blocks images leave some empty)
      if (b.count > 0) w.result.blocks.push_back(std::move(b));
    w.moments.reset();
    if (w.samplers.empty()) continue;
    std::vector<std::vector<float>> edges;
    for (EdgeSampler& e : w.samplers) edges.push_back(e.pooled_edges(opt.mi_bins));
    w.joint = std::make_unique<JointHistogramAccumulator>(dev, w.result.moments.units, opt.mi_bins, edges);
    any_mi = true;
  }
  // Pass 2, only for MI: joint histograms of every pair of units with per-unit percentile bins.
  if (any_mi)
    run_pass("mutual information", [&](int n, long, bool own) {
      for (Layer& w : work)
        if (w.joint && own) w.joint->add_batch(activations(w.result.name), n, w.result.hw);
    });
  for (Layer& w : work)
    if (w.joint) w.joint->reduce_to_root();
  if (!dist::is_root()) return {};  // rank 0 alone matches and scores

  // Per pair: matching and summary (and MI-based matching); then the bootstrap and multi-way matching.
  std::vector<LayerResult> results;
  for (Layer& w : work) {
    LayerResult& r = w.result;
    LayerScores sc = score_layer(r.moments, opt.solver, dev);
    r.stats = std::move(sc.stats);
    r.pairs = std::move(sc.pairs);
    const std::vector<int>& units = r.moments.units;
    for (PairResult& pr : r.pairs) {
      const int p = pr.a, q = pr.b;
      if (!w.joint) continue;
      std::vector<uint64_t> counts = w.joint->joint(p, q);
      pr.mi = mutual_information_matrix(counts.data(), units[p], units[q], opt.mi_bins, /*bias_correct=*/true);
      // Over the live units, as the correlation matching: a dead unit's MI is exactly 0, which beats
      // the negative bias-corrected MI of weakly related live pairs and would take partners.
      pr.mi_bipartite = assign_live(pr.mi, units[p], units[q], live_units(units[p], r.stats.zero_variance[p]),
                                    live_units(units[q], r.stats.zero_variance[q]), opt.solver, dev);
      int agree = 0, matched = 0, mi_matched = 0;
      for (int i = 0; i < units[p]; ++i) {
        if (pr.bipartite.row_to_col[i] >= 0) ++matched, agree += pr.bipartite.row_to_col[i] == pr.mi_bipartite.row_to_col[i];
        mi_matched += pr.mi_bipartite.row_to_col[i] >= 0;
      }
      // The paper's check: of the 8 best pairs by correlation, how many MI matches identically.
      int top_same = 0, top = 0;
      for (const json& m : pr.summary["matched_pairs_best_first"]) {
        if (top == 8) break;
        ++top;
        top_same += pr.mi_bipartite.row_to_col[m["unit_a"].get<int>()] == m["unit_b"].get<int64_t>();
      }
      pr.summary["mi_bipartite_mean_nats"] = pr.mi_bipartite.objective / std::max(mi_matched, 1);
      pr.summary["mi_agrees_with_correlation"] = (double)agree / std::max(matched, 1);
      pr.summary["mi_same_in_top8_correlation_pairs"] = top_same;
      pr.summary["mi_bins"] = opt.mi_bins;
    }
    if (opt.bootstrap > 0 && r.blocks.size() >= 2) r.bootstrap = bootstrap_layer(r.blocks, opt.bootstrap, opt.bootstrap_seed);
    if (K >= 3) r.multiway = multiway_json(r, opt.universal_threshold);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace cvg
