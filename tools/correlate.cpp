// bin/correlate: how similar are the units of nets trained from different seeds? One fused pass of
// activation statistics, correlation matrices, semi- and bipartite matching, mutual information.
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/correlate.h"
#include "analysis/moments_io.h"
#include "analysis/npy.h"
#include "kernels/stats.h"
#include "nn/checkpoint.h"
#include "nn/io.h"
#include "tools/cli.h"

using namespace cvg;
using json = nlohmann::json;

// A run folder means its newest intact checkpoint; a file is taken as it is.
static Checkpoint open_run(const std::string& path) {
  if (path.size() >= 4 && path.substr(path.size() - 4) == ".bin") return read_checkpoint(path);
  Checkpoint ck;
  if (!read_newest_checkpoint(path, &ck))
    throw InputError(path + ": no intact checkpoint here (expected ckpt-*.bin; train with bin/train first)");
  return ck;
}

static void write_vec(const std::string& path, const std::vector<double>& v, std::vector<size_t> shape) { write_npy(path, v.data(), shape); }

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args a("correlate RUN_A RUN_B [RUN_C ...] [options]",
                "Runs every net forward on the same data and accumulates, inside the forward pass, each analysed\n"
                "layer's unit statistics (a unit is a channel; every image x position is a sample; activations\n"
                "after the ReLU). Writes per layer: means, stds, within- and between-net correlations (.npy),\n"
                "semi-matching and exact bipartite matching, raw moments for bin/align; and summary.json.\n"
                "RUN is a run folder (its newest checkpoint) or a ckpt-*.bin file.");
    a.opt("data", "", "dataset (default: the one the first net was trained on)")
        .opt("data-dir", "", "folder of the fashion-mnist IDX files")
        .opt("split", "test", "train | test")
        .opt("layers", "", "comma-separated layers (default: every conv and fc layer)")
        .opt("mi-layers", "conv1,conv2", "layers that also get mutual information (the paper: conv1, conv2); 'none' for none")
        .opt("mi-bins", "10", "bins per unit for MI: one for exact zeros, the rest percentile bins of the non-zero values")
        .opt("batch", "128", "images per batch")
        .opt("max-images", "-1", "use only the first N images of the split")
        .opt("solver", "exact", "bipartite matching: exact (CPU) | auction (GPU when present)")
        .opt("device", "auto", "cpu | cuda | cuda:N | auto")
        .opt("threads", "2", "data-loading threads")
        .opt("out", "runs/correlate", "output folder");
    if (!a.parse(argc, argv)) return 0;
    const auto& runs = a.positional();
    if (runs.size() < 2) throw cli::UsageError("give at least two runs to compare (see --help)");
    Device dev = parse_device(a.str("device"));
    int batch = (int)a.integer("batch");
    if (batch <= 0) throw cli::UsageError("--batch must be positive");

    std::vector<Checkpoint> cks;
    std::vector<std::unique_ptr<Net>> owned;
    std::vector<Net*> nets;
    for (const std::string& r : runs) {
      cks.push_back(open_run(r));
      if (cks.back().config.name != cks[0].config.name || cks.back().input != cks[0].input)
        throw InputError(r + ": net " + cks.back().config.name + " does not match " + runs[0] + " (" + cks[0].config.name + "): different architecture or input");
      owned.push_back(cks.back().make_net(dev, batch));
      nets.push_back(owned.back().get());
    }
    std::string spec = a.given("data") ? a.str("data") : cks[0].info.data_spec;
    std::unique_ptr<Dataset> data = open_dataset(spec, a.str("split"), a.str("data-dir"));
    ImageShape s = data->shape();
    if (std::vector<int>{s.c, s.h, s.w} != cks[0].input) throw InputError(spec + ": images do not have the shape the nets were trained on");

    CorrelateOptions opt;
    opt.layers = cli::split_list(a.str("layers"));
    opt.mi_layers = a.str("mi-layers") == "none" ? std::vector<std::string>{} : cli::split_list(a.str("mi-layers"));
    std::vector<std::string> layers = comparable_layers(nets, opt.layers);
    opt.mi_layers.erase(std::remove_if(opt.mi_layers.begin(), opt.mi_layers.end(),
                                       [&](const std::string& l) { return std::find(layers.begin(), layers.end(), l) == layers.end(); }),
                        opt.mi_layers.end());
    opt.mi_bins = (int)a.integer("mi-bins");
    if (opt.mi_bins < 3 || opt.mi_bins > kStatsMaxBins) throw cli::UsageError("--mi-bins must be in [3, " + std::to_string(kStatsMaxBins) + "]");
    opt.batch = batch;
    opt.max_images = a.integer("max-images");
    opt.solver = parse_solver(a.str("solver"));
    opt.threads = (int)a.integer("threads");

    std::printf("correlate: %zu nets (%s) on %s, %s\n", nets.size(), cks[0].config.name.c_str(), dev.name().c_str(), data->describe().c_str());
    std::vector<LayerResult> res = correlate_nets(nets, *data, opt);

    const std::string out = a.str("out");
    make_dirs(out);
    json summary = {{"nets", runs}, {"checkpoints", json::array()}, {"data", data->describe()}, {"device", dev.name()}, {"layers", json::array()}};
    for (auto& c : cks) summary["checkpoints"].push_back({{"path", c.path}, {"seed", c.info.seed}, {"iteration", c.info.iteration}});
    for (const LayerResult& r : res) {
      const std::string dir = out + "/" + r.name;
      make_dirs(dir);
      const std::vector<int>& U = r.moments.units;
      for (int k = 0; k < (int)U.size(); ++k) {
        size_t c = U[k];
        write_vec(dir + "/mean_" + std::to_string(k) + ".npy", r.stats.mean[k], {c});
        write_vec(dir + "/std_" + std::to_string(k) + ".npy", r.stats.std[k], {c});
        write_vec(dir + "/within_" + std::to_string(k) + ".npy", r.stats.within[k], {c, c});
      }
      save_moments(dir + "/moments", r.moments);
      json lj = {{"layer", r.name}, {"units", U}, {"samples_per_unit", r.moments.count}, {"positions", r.hw}, {"pairs", json::array()}};
      json zero = json::array();
      for (auto& z : r.stats.zero_variance) zero.push_back(z);
      lj["zero_variance_units"] = zero;
      for (const PairResult& p : r.pairs) {
        std::string tag = std::to_string(p.a) + "_" + std::to_string(p.b);
        size_t ca = U[p.a], cb = U[p.b];
        write_vec(dir + "/between_" + tag + ".npy", p.between, {ca, cb});
        write_npy(dir + "/bipartite_" + tag + ".npy", p.bipartite.row_to_col.data(), {ca});
        write_npy(dir + "/semi_" + tag + ".npy", p.semi_ab.data(), {ca});
        if (!p.mi.empty()) {
          write_vec(dir + "/mi_" + tag + ".npy", p.mi, {ca, cb});
          write_npy(dir + "/mi_bipartite_" + tag + ".npy", p.mi_bipartite.row_to_col.data(), {ca});
        }
        lj["pairs"].push_back(p.summary);
      }
      summary["layers"].push_back(lj);
    }
    write_file_atomic(out + "/summary.json", summary.dump(1) + "\n");

    // The table: per layer and pair, mean correlation of each matching.
    std::printf("\nMean correlation of matched units (activations after ReLU; %s):\n", data->describe().c_str());
    std::printf("%-7s %-5s %9s %9s %9s %9s %9s %9s %7s %6s %s\n", "layer", "pair", "units", "semi A>B", "semi B>A", "bipart.",
                "within A", "within B", "random*", "mutual", "same partner");
    for (const LayerResult& r : res)
      for (const PairResult& p : r.pairs) {
        const json& j = p.summary;
        char units[32];
        std::snprintf(units, sizeof units, "%dx%d", r.moments.units[p.a], r.moments.units[p.b]);
        std::printf("%-7s %d-%-3d %9s %9.3f %9.3f %9.3f %9.3f %9.3f %7.3f %6d %5.0f%%\n", r.name.c_str(), p.a + 1, p.b + 1, units,
                    j["semi_matching_ab"].get<double>(), j["semi_matching_ba"].get<double>(), j["bipartite"].get<double>(),
                    j["within_best_a"].get<double>(), j["within_best_b"].get<double>(), j["random_permutation_expected"].get<double>(),
                    j["mutual_best_partners"].get<int>(), 100 * j["same_partner_semi_and_bipartite"].get<double>());
      }
    std::printf("* random: the expected mean correlation of a random one-to-one matching (= the mean of the\n"
                "  between-net matrix); our addition, not in the paper. within: each unit's best partner in its own net.\n");
    bool any_mi = false;
    for (const LayerResult& r : res)
      for (const PairResult& p : r.pairs)
        if (!p.mi.empty()) {
          if (!any_mi) std::printf("\nMutual information (nats, %d bins, bias-corrected):\n%-7s %-5s %12s %16s %18s\n", opt.mi_bins,
                                   "layer", "pair", "MI bipart.", "same as corr.", "same in top-8 corr.");
          any_mi = true;
          const json& j = p.summary;
          std::printf("%-7s %d-%-3d %12.4f %15.0f%% %14d/8\n", r.name.c_str(), p.a + 1, p.b + 1, j["mi_bipartite_mean_nats"].get<double>(),
                      100 * j["mi_agrees_with_correlation"].get<double>(), j["mi_same_in_top8_correlation_pairs"].get<int>());
        }
    std::printf("\nwrote %s/summary.json and per-layer .npy files\n", out.c_str());
    return 0;
  });
}
