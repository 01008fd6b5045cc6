// bin/correlate: how similar are the units of nets trained from different seeds? One fused pass of
// activation statistics, correlation matrices, semi- and bipartite matching, mutual information.
#include <cmath>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/stats/correlate.h"
#include "analysis/stats/correlate_io.h"
#include "analysis/stats/moments_io.h"
#include "analysis/stats/paper_claims.h"
#include "base/npy.h"
#include "kernels/stats.h"
#include "nn/run.h"
#include "base/io.h"
#include "base/cli.h"

using namespace cvg;
using json = nlohmann::json;

// Per layer, how many units of each net never vary (left out of every matching and mean).
static void print_dead_units(const std::vector<LayerResult>& res, const std::vector<std::string>& names) {
  std::string lines;
  for (const LayerResult& r : res) {
    std::string l;
    for (size_t k = 0; k < names.size(); ++k)
      if (!r.stats.zero_variance[k].empty()) l += " " + names[k] + " " + std::to_string(r.stats.zero_variance[k].size());
    if (!l.empty()) lines += "  " + r.name + ":" + l + "\n";
  }
  if (lines.empty())
    std::printf("dead units (zero variance): none\n");
  else
    std::printf("dead units (zero variance; left out of the matchings and means, partner -1 in the files):\n%s", lines.c_str());
}

// The 95% intervals per layer and pair, then the layer-vs-layer comparisons they support.
static void print_intervals(const std::vector<LayerResult>& res, const std::vector<std::string>& names, size_t w) {
  const json& b0 = res.at(0).bootstrap;
  std::printf("\n95%% intervals (block bootstrap: %d resamples of %d blocks of images, seed %llu; matchings re-solved):\n",
              b0["resamples"].get<int>(), b0["blocks"].get<int>(), (unsigned long long)b0["seed"].get<uint64_t>());
  std::printf("%-7s %-*s %-*s %15s %15s %15s %15s %15s %15s %9s\n", "layer", (int)w, "A", (int)w, "B", "semi A>B", "semi B>A",
              "bipart.", "within A", "within B", "random", "mutual");
  double seconds = 0, matching = 0;
  for (const LayerResult& r : res) {
    seconds += r.bootstrap["seconds"].get<double>(), matching += r.bootstrap["matching_seconds"].get<double>();
    for (size_t i = 0; i < r.pairs.size(); ++i) {
      const json& j = r.bootstrap["pairs"][i];
      std::printf("%-7s %-*s %-*s", r.name.c_str(), (int)w, names[r.pairs[i].a].c_str(), (int)w, names[r.pairs[i].b].c_str());
      for (const ScoreField& f : kIntervalScores) {
        const double lo = j[f.key][0].is_number() ? j[f.key][0].get<double>() : NAN;
        const double hi = j[f.key][1].is_number() ? j[f.key][1].get<double>() : NAN;
        if (std::string(f.key) == "mutual_best_partners")
          std::printf(" %4.0f..%-4.0f", lo, hi);
        else
          std::printf("  [%5.3f,%5.3f]", lo, hi);
      }
      std::printf("\n");
    }
  }
  std::printf("bootstrap: %.1f s wall for all layers, of which exact matchings %.1f CPU-s (summed over threads)\n", seconds,
              matching);
  // Supported differences: layer L above layer M when their intervals do not overlap.
  for (const char* key : {"semi_matching_ab", "bipartite"})
    for (size_t i = 0; i < res.at(0).pairs.size(); ++i) {
      std::string line;
      for (const LayerResult& r : res) {
        std::string above;
        for (const LayerResult& o : res) {
          const json &x = r.bootstrap["pairs"][i][key], &y = o.bootstrap["pairs"][i][key];
          if (&r != &o && x[0].is_number() && y[1].is_number() && x[0].get<double>() > y[1].get<double>()) above += " " + o.name;
        }
        if (!above.empty()) line += "    " + r.name + " >" + above + "\n";
      }
      std::printf("supported by non-overlapping intervals, %s, %s-%s:\n%s", key, names[res[0].pairs[i].a].c_str(),
                  names[res[0].pairs[i].b].c_str(), line.empty() ? "    none\n" : line.c_str());
    }
}

// Three nets or more: cycle consistency and universal units per layer.
static void print_multiway(const std::vector<LayerResult>& res, const std::vector<std::string>& names) {
  for (const LayerResult& r : res) {
    if (r.multiway.is_null()) continue;
    const json& m = r.multiway;
    double lo = 1, hi = 0;
    for (double f : m["triple_cycle_fraction"]) lo = std::min(lo, f), hi = std::max(hi, f);
    std::string universal;
    for (size_t k = 0; k < names.size(); ++k)
      universal += (k ? "/" : "") + std::to_string(m["universal_count"][k].get<int>());
    std::printf(
        "%s multiway (%zu nets): %.0f%% of units cycle-consistent over every triple (%.0f-%.0f%% per triple, chance ~%.0f%%); "
        "universal units (partner >= %.2f in every other net) per net: %s of %d\n",
        r.name.c_str(), names.size(), 100 * m["cycle_consistent_fraction"].get<double>(), 100 * lo, 100 * hi,
        100.0 / std::max(1, r.moments.units[0]), m["universal_threshold"].get<double>(), universal.c_str(), r.moments.units[0]);
  }
}

// With the per-pair tables off: how wide the image bootstrap's intervals are, beside the nets' spread.
static void print_image_spread(const std::vector<LayerResult>& res) {
  const json& b0 = res.at(0).bootstrap;
  std::printf(
      "\nImage sampling (block bootstrap: %d resamples of %d blocks, matchings re-solved), bipartite 95%% interval\n"
      "half-width, mean over pairs (per pair: --per-pair, summary.json \"bootstrap\"):",
      b0["resamples"].get<int>(), b0["blocks"].get<int>());
  for (const LayerResult& r : res) {
    double w = 0;
    int n = 0;
    for (const json& j : r.bootstrap["pairs"])
      if (j["bipartite"][0].is_number() && j["bipartite"][1].is_number())
        w += 0.5 * (j["bipartite"][1].get<double>() - j["bipartite"][0].get<double>()), ++n;
    std::printf(" %s %.3f", r.name.c_str(), n ? w / n : NAN);
  }
  std::printf("\n");
}

static int name_width(const std::vector<std::string>& names) {
  size_t w = 4;
  for (const std::string& n : names) w = std::max(w, n.size());
  return (int)w;
}

// The table: per layer and pair, the matching scores.
static void print_pair_table(const std::vector<LayerResult>& res, const std::vector<std::string>& names,
                             const std::string& used) {
  const int w = name_width(names);
  std::printf("\nUnits matched between nets A and B (correlations of activations after ReLU over %s x positions):\n",
              used.c_str());
  std::printf("%-7s %-*s %-*s %5s %5s %9s %9s %8s %8s %8s %7s %6s %5s\n", "layer", (int)w, "A", (int)w, "B", "#A", "#B",
              "semi A>B", "semi B>A", "bipart.", "within A", "within B", "random", "mutual", "same");
  std::vector<std::string> unmatched;
  for (const LayerResult& r : res)
    for (const PairResult& p : r.pairs) {
      const json& j = p.summary;
      std::printf("%-7s %-*s %-*s %5d %5d %9.3f %9.3f %8.3f %8.3f %8.3f %7.3f %6d %4.0f%%\n", r.name.c_str(), (int)w,
                  names[p.a].c_str(), (int)w, names[p.b].c_str(), r.moments.units[p.a], r.moments.units[p.b],
                  j["semi_matching_ab"].get<double>(), j["semi_matching_ba"].get<double>(), j["bipartite"].get<double>(),
                  j["within_best_a"].get<double>(), j["within_best_b"].get<double>(),
                  j["random_permutation_expected"].get<double>(), j["mutual_best_partners"].get<int>(),
                  100 * j["same_partner_semi_and_bipartite"].get<double>());
      for (int side = 0; side < 2; ++side) {
        const json& u = j[side ? "unmatched_b" : "unmatched_a"];
        if (!u.empty())
          unmatched.push_back(r.name + ": " + std::to_string(u.size()) + " units of " + names[side ? p.b : p.a] +
                              " have no partner in " + names[side ? p.a : p.b] + " (summary.json: unmatched_" +
                              (side ? "b" : "a") + ")");
      }
    }
  std::printf(
      "#A, #B: units (channels) per net, numbered from 0. Correlation means over units:\n"
      "  semi A>B: each unit of A with its best partner in B (B>A: the other way round)\n"
      "  bipart.: the best one-to-one matching (min(#A, #B) pairs); within: each unit's best partner in its own net\n"
      "  random: mean of all A-B correlations (a random one-to-one matching's expected score; not in the paper)\n"
      "  Dead (zero-variance) units take no part: not in the means, nobody's partner (counts below).\n"
      "  mutual: number of units that are each other's best partner (a count); same: %% of A's matched units\n"
      "  whose bipartite partner is also their semi-matching (best) partner. Files and JSON keys: docs/OUTPUTS.md\n");
  for (const std::string& u : unmatched) std::printf("  %s\n", u.c_str());
}

static std::string spread_cell(const Spread& s) {
  char buf[64];
  if (s.decided)
    std::snprintf(buf, sizeof buf, "%.3f [%.3f,%.3f]", s.mean, s.lo, s.hi);
  else
    std::snprintf(buf, sizeof buf, "%.3f", s.mean);
  return buf;
}

// Per layer, over every pair of nets: the mean, its 95% interval from resampling the nets, the
// untrained null and the random baseline beside it, and the paper's values.
static void print_over_pairs(const std::vector<LayerPairStats>& stats, const std::vector<LayerPairStats>& null_stats,
                             const NetResampler& rs, const std::string& used) {
  const int pairs = rs.nets() * (rs.nets() - 1) / 2;
  std::printf(
      "\nUnits matched between nets, mean over the %d pairs of %d nets [95%% interval from resampling the nets]\n"
      "(correlations of activations after ReLU over %s x positions; --per-pair for each pair):\n",
      pairs, rs.nets(), used.c_str());
  std::printf("%-7s %-22s %-22s %-9s %-22s %7s %7s %7s\n", "layer", "semi-matching", "bipartite", "range", "untrained bipart.",
              "random", "paper", "(semi)");
  for (size_t i = 0; i < stats.size(); ++i) {
    const LayerPairStats& l = stats[i];
    const Spread semi = rs.spread(l.semi), bip = rs.spread(l.bipartite), rnd = rs.spread(l.random);
    char range[32];
    std::snprintf(range, sizeof range, "%.2f-%.2f", bip.min, bip.max);
    std::string null = "-";
    for (const LayerPairStats& n : null_stats)
      if (n.layer == l.layer) null = spread_cell(rs.spread(n.bipartite));
    const PaperFigures p = paper_figures(l.layer);
    char paper[16] = "-", paper_semi[16] = "-";
    if (p.bipartite >= 0)
      std::snprintf(paper, sizeof paper, "%.3f", p.bipartite), std::snprintf(paper_semi, sizeof paper_semi, "%.3f", p.semi);
    std::printf("%-7s %-22s %-22s %-9s %-22s %7.3f %7s %7s\n", l.layer.c_str(), spread_cell(semi).c_str(),
                spread_cell(bip).c_str(), range, null.c_str(), rnd.mean, paper, paper_semi);
  }
  std::printf(
      "semi-matching: each unit's best partner in the other net, both directions averaged; bipartite: the best\n"
      "one-to-one matching; range: bipartite min-max over pairs; untrained: the same nets before training (--null\n"
      "untrained); random: a random one-to-one matching's expected score (not in the paper); paper: CaffeNet on\n"
      "ImageNet, Net1 vs Net2, bipartite (semi) (docs/PAPER.md).\n");
}

static void print_claims(const std::vector<ClaimVerdict>& claims) {
  std::printf("\nThe paper's claims on these nets (95%% intervals from resampling the nets; docs/PAPER.md):\n");
  for (const ClaimVerdict& c : claims)
    std::printf("  %-13s %s\n  %13s %s\n", c.verdict.c_str(), c.claim.c_str(), "", c.evidence.c_str());
}

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args a("correlate RUN_A RUN_B [RUN_C ...] [options]",
                "Runs every net forward on the same data and accumulates, inside the forward pass, each analysed\n"
                "layer's unit statistics (a unit is a channel; every image x position is a sample; activations\n"
                "after the ReLU). Writes per layer: means, stds, within- and between-net correlations (.npy),\n"
                "semi-matching and exact bipartite matching, raw moments for bin/align; and summary.json.\n"
                "RUN is a run folder (its newest checkpoint) or a ckpt-*.bin file. Nets are called by their run\n"
                "folder's name; files number them 0, 1, ... in the order given (summary.json's \"nets\"); units\n"
                "are numbered from 0. Nets may differ in width (units per layer) but not in input or spatial size.\n"
                "The output replaces --out as a whole when complete (a failed run leaves the old one).\n"
                "mpirun -np N bin/correlate ...: N processes share the images (one GPU each) and rank 0 writes\n"
                "the same results as one process (to float64 rounding; README).\n"
                "Every file and JSON key: docs/OUTPUTS.md.");
    a.opt("data", "", "dataset (default: the one the first net was trained on)")
        .opt("data-dir", "", "folder of the fashion-mnist IDX files")
        .opt("split", "test", "train | test")
        .opt("layers", "", "comma-separated layers (default: every conv and fc layer the nets share)")
        .opt("mi-layers", "conv1,conv2", "layers that also get mutual information (the paper: conv1, conv2); 'none' for none")
        .opt("mi-bins", "10", "bins per unit for MI: one for exact zeros, the rest percentile bins of the non-zero values")
        .opt("batch", "128", "images per batch")
        .opt("max-images", "", "use only the first N images of the split (default: all)")
        .opt("solver", "exact", "bipartite matching: exact (CPU) | auction (GPU when present)")
        .opt("blocks", "32",
             "blocks of images for the bootstrap (runs of 16 images dealt to the blocks in turn); 0 = off.\n"
             "Memory: blocks x (sum over layers of the nets' c^2 and the pairs' c_p c_q) float64, twice\n"
             "(accumulators + host copy), refused when it exceeds the memory available; the same on disk\n"
             "(moments/blocks/). alexnet-mini: about 120 MiB for 2 nets, 410 MiB for 4 at 32 blocks")
        .opt("bootstrap", "200", "bootstrap resamples of the blocks for 95% intervals (0 = none; needs --blocks >= 2)")
        .opt("bootstrap-seed", "1", "seed of the resampling (the same seed gives the same intervals)")
        .opt("universal-threshold", "0.5",
             "3 nets or more: a unit is universal when its bipartite partner in every other net\n"
             "correlates with it at least this much")
        .opt("device", "auto", "cpu | cuda | cuda:N | auto")
        .opt("threads", "2", "data-loading threads")
        .opt("out", "runs/correlate", "output folder (replaced as a whole)")
        .opt("null", "none",
             "none | untrained: also correlate the untrained nets of the same runs (their ckpt-000000000.bin),\n"
             "the architecture-only null, shown beside the learned values (correlation only: no MI)")
        .opt("at-iterations", "",
             "comma-separated checkpoints (iteration numbers, 'untrained', 'last'), e.g. 0,500,last:\n"
             "matched correlation per layer at each (summary.json: over_training; train --snapshot N keeps them)")
        .flag("per-pair", "print a row per pair of nets (the default with two nets); summary.json always has them")
        .alias("layer", "layers");
    if (!a.parse(argc, argv)) return 0;
    const auto& runs = a.positional();
    if (runs.size() < 2) throw cli::UsageError("give at least two runs to compare (see --help)");
    Device dev = parse_device_for_rank(a.str("device"));
    int batch = a.int32("batch");
    if (batch <= 0) throw cli::UsageError("--batch must be positive");
    long long max_images = -1;
    if (a.given("max-images")) {
      max_images = a.integer("max-images");
      if (max_images < 1) throw cli::UsageError("--max-images must be at least 1 (leave it out for all images)");
    }
    const std::string out = a.path("out");
    check_replaceable_output(out, kCorrelateOwner);
    require_output_folder(out);
    if (a.str("null") != "none" && a.str("null") != "untrained")
      throw cli::UsageError("--null must be none or untrained, got '" + a.str("null") + "'");
    // The further passes' checkpoints must exist: refused now, not after the main pass.
    std::vector<std::string> further = a.list("at-iterations");
    if (a.str("null") == "untrained") further.push_back("untrained");
    for (const std::string& which : further)
      for (const std::string& r : runs) run_checkpoint_at(r, which);

    std::vector<Checkpoint> cks;
    std::vector<NetRecord> recs;
    std::vector<std::unique_ptr<Net>> owned;
    std::vector<Net*> nets;
    for (const std::string& r : runs) {
      cks.push_back(open_run(r));
      recs.push_back(net_record(cks.back(), r, (int)recs.size()));
      owned.push_back(cks.back().make_net(dev, batch));
      nets.push_back(owned.back().get());
    }
    make_names_unique(recs);
    std::vector<std::string> names;
    for (const NetRecord& r : recs) names.push_back(r.name);
    std::vector<std::string> layers = comparable_layers(nets, a.list("layers"), names);
    std::unique_ptr<Dataset> data = open_run_data(cks[0], a.str("data"), a.str("split"), a.str("data-dir"));

    CorrelateOptions opt;
    opt.layers = layers;
    opt.mi_layers = a.str("mi-layers") == "none" ? std::vector<std::string>{} : a.list("mi-layers");
    // The default's layers outside --layers are dropped; a layer named by --mi-layers must be compared.
    if (a.given("mi-layers"))
      for (const std::string& l : opt.mi_layers)
        if (std::find(layers.begin(), layers.end(), l) == layers.end())
          throw cli::UsageError("--mi-layers: " + l + " is not among the layers compared (--layers)");
    opt.mi_layers.erase(
        std::remove_if(opt.mi_layers.begin(), opt.mi_layers.end(),
                       [&](const std::string& l) { return std::find(layers.begin(), layers.end(), l) == layers.end(); }),
        opt.mi_layers.end());
    opt.mi_bins = a.int32("mi-bins");
    if (opt.mi_bins < 3 || opt.mi_bins > kStatsMaxBins)
      throw cli::UsageError("--mi-bins must be in [3, " + std::to_string(kStatsMaxBins) + "]");
    opt.batch = batch;
    opt.max_images = max_images;
    opt.solver = parse_solver(a.str("solver"));
    opt.threads = a.loader_threads();

    opt.blocks = a.int32("blocks");
    opt.bootstrap = a.int32("bootstrap");
    if (opt.blocks < 0 || opt.blocks > 4096) throw cli::UsageError("--blocks must be in [0, 4096]");
    if (opt.bootstrap < 0) throw cli::UsageError("--bootstrap must be >= 0");
    if (opt.bootstrap > 0 && opt.blocks < 2) throw cli::UsageError("--bootstrap needs --blocks of at least 2 (or --bootstrap 0)");
    if (a.integer("bootstrap-seed") < 0) throw cli::UsageError("--bootstrap-seed must be >= 0");
    opt.bootstrap_seed = (uint64_t)a.integer("bootstrap-seed");
    opt.universal_threshold = a.real("universal-threshold");
    if (!(opt.universal_threshold >= -1 && opt.universal_threshold <= 1))
      throw cli::UsageError("--universal-threshold must be in [-1, 1]");

    const size_t images = max_images > 0 ? std::min<size_t>(data->size(), (size_t)max_images) : data->size();
    const std::string used =
        std::to_string(images) + (images < data->size() ? " of " + std::to_string(data->size()) : "") + " images";
    // Under mpirun every rank runs the passes on its share of the images (analysis/stats/correlate.h);
    // rank 0 alone prints, matches and writes.
    const std::string ranks = dist::size() > 1 ? "; " + std::to_string(dist::size()) + " MPI ranks" : "";
    if (dist::is_root()) {
      std::printf("correlate: %zu nets on %s, %s (%s split); %s used%s\n", nets.size(), dev.name().c_str(),
                  data->describe().c_str(), a.str("split").c_str(), used.c_str(), ranks.c_str());
      for (const NetRecord& r : recs) std::printf("  net %s\n", describe(r).c_str());
      std::printf("  machine: %s\n", cli::machine_description().c_str());
    }
    std::vector<LayerResult> res = correlate_nets(nets, *data, opt);
    // The same pass over the same runs at other checkpoints: the untrained null, and over training.
    auto pass_at = [&](const std::string& which) {
      std::vector<std::unique_ptr<Net>> at_owned;
      std::vector<Net*> at_nets;
      for (const std::string& r : runs) {
        Checkpoint ck = open_run_at(r, which);
        at_owned.push_back(ck.make_net(dev, batch));
        at_nets.push_back(at_owned.back().get());
      }
      if (dist::is_root()) std::printf("correlate: the same nets at checkpoint '%s'\n", which.c_str());
      CorrelateOptions at_opt = opt;
      at_opt.blocks = at_opt.bootstrap = 0;  // point estimates: the intervals are the main pass's
      // Correlation matching only: MI's second data pass is the slowest part of a pass, and the
      // paper's MI comparison is about the trained nets.
      at_opt.mi_layers.clear();
      return pair_stats(correlate_nets(at_nets, *data, at_opt), (int)nets.size());
    };
    if (!dist::is_root()) {  // the other ranks take part in the further passes, then stop
      if (a.str("null") == "untrained") pass_at("untrained");
      for (const std::string& which : a.list("at-iterations")) pass_at(which);
      return 0;
    }

    json meta = {{"data", data->describe()},
                 {"split", a.str("split")},
                 {"images", images},
                 {"split_images", data->size()},
                 {"device", dev.name()},
                 {"mi_bins", opt.mi_bins},
                 {"machine", cli::machine_description()}};
    // Over pairs of nets: the spread between seeds, and the paper's claims judged by it.
    const NetResampler resampler((int)nets.size());
    const std::vector<LayerPairStats> stats = pair_stats(res, (int)nets.size());
    meta["over_pairs"] = over_pairs_json(stats, resampler);
    const std::vector<ClaimVerdict> claims = paper_claims(stats, resampler);
    meta["paper_claims"] = json::array();
    for (const ClaimVerdict& c : claims) meta["paper_claims"].push_back(to_json(c));
    std::vector<LayerPairStats> null_stats;
    if (a.str("null") == "untrained") {
      null_stats = pass_at("untrained");
      meta["null_untrained"] = over_pairs_json(null_stats, resampler);
    }
    if (a.given("at-iterations")) {
      meta["over_training"] = json::array();
      for (const std::string& which : a.list("at-iterations"))
        meta["over_training"].push_back({{"checkpoint", which}, {"layers", over_pairs_json(pass_at(which), resampler)}});
    }
    write_correlate_output(out, recs, res, meta);

    const bool per_pair = a.on("per-pair") || nets.size() == 2;
    if (per_pair)
      print_pair_table(res, names, used);
    else
      print_over_pairs(stats, null_stats, resampler, used);
    print_dead_units(res, names);
    if (opt.bootstrap > 0 && !res.at(0).bootstrap.is_null()) {
      if (per_pair)
        print_intervals(res, names, name_width(names));
      else
        print_image_spread(res);
    } else if (opt.bootstrap > 0) {
      std::printf("no bootstrap intervals: the %zu images fill fewer than 2 blocks (runs of %d images)\n", images, kBlockRun);
    }
    print_multiway(res, names);
    print_claims(claims);
    const int w = name_width(names);
    bool any_mi = false;
    for (const LayerResult& r : res)
      for (const PairResult& p : r.pairs)
        if (!p.mi.empty()) {
          if (!any_mi)
            std::printf(
                "\nMutual information (nats; %d bins per unit: exact zeros + percentiles; Miller-Madow corrected):\n"
                "%-7s %-*s %-*s %10s %9s %9s\n",
                opt.mi_bins, "layer", (int)w, "A", (int)w, "B", "MI bipart.", "same", "top-8");
          any_mi = true;
          const json& j = p.summary;
          std::printf("%-7s %-*s %-*s %10.4f %8.0f%% %7d/8\n", r.name.c_str(), (int)w, names[p.a].c_str(), (int)w,
                      names[p.b].c_str(), j["mi_bipartite_mean_nats"].get<double>(),
                      100 * j["mi_agrees_with_correlation"].get<double>(), j["mi_same_in_top8_correlation_pairs"].get<int>());
        }
    if (any_mi)
      std::printf(
          "MI bipart.: mean MI of the one-to-one matching by MI; same: %% of units whose MI partner is their\n"
          "correlation partner; top-8: of the 8 best correlation pairs, how many MI matches the same way.\n");
    std::printf("\nwrote %s/ (summary.json and per-layer .npy; net k of between_<p>_<q>.npy is \"nets\"[k])\n", out.c_str());
    return 0;
  }, /*distributed=*/true);
}
