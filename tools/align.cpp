// bin/align: beyond one-to-one matching, from the moments bin/correlate stored (no pass over the
// data): few-to-one sparse prediction (Lasso), many-to-many spectral groups, and global scores
// (linear CKA, CCA, SVCCA, PWCCA, orthogonal Procrustes), per layer and pair of nets.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cctype>
#include <map>
#include <numeric>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/align/lasso.h"
#include "analysis/align/pair.h"
#include "analysis/align/score_intervals.h"
#include "analysis/align/scores.h"
#include "analysis/align/spectral.h"
#include "analysis/stats/correlate_io.h"
#include "analysis/stats/moments_io.h"
#include "base/npy.h"
#include "base/png.h"
#include "base/io.h"
#include "base/cli.h"

using namespace cvg;
using json = nlohmann::json;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// "1e-3", "0.01" or "10^-2.6".
double parse_penalty(const std::string& s) {
  std::string t = s;
  bool power = t.rfind("10^", 0) == 0;
  if (power) t = t.substr(3);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end) throw cli::UsageError("--penalties: '" + s + "' is not a number (e.g. 1e-3 or 10^-2.6)");
  const double x = power ? std::pow(10.0, v) : v;
  if (!(x >= 0) || !std::isfinite(x)) throw cli::UsageError("--penalties: '" + s + "' must be finite and >= 0");
  return x;
}

std::string penalty_label(double l) {
  if (l == 0) return "0";
  const double e = std::log10(l);
  char buf[32];
  if (std::fabs(e - std::round(e)) < 1e-9) std::snprintf(buf, sizeof buf, "1e%d", (int)std::round(e));
  else if (std::fabs(e * 10 - std::round(e * 10)) < 1e-9) std::snprintf(buf, sizeof buf, "10^%.1f", e);
  else std::snprintf(buf, sizeof buf, "%.3g", l);
  return buf;
}

// The joint correlation matrix as a heatmap (-1 blue, 0 white, 1 red), black lines at `cuts`.
Image joint_heatmap(const std::vector<double>& J, int n, const std::vector<int>& cuts) {
  const int cell = std::max(1, 640 / std::max(n, 1));
  Image img = heatmap(J.data(), n, n, -1.0, 1.0, cell);
  for (int c : cuts) {
    if (c <= 0 || c >= n) continue;
    const int p = c * cell;
    for (int t = 0; t < img.w; ++t) {
      uint8_t* a = img.at(t, std::min(p, img.h - 1));
      uint8_t* b = img.at(std::min(p, img.w - 1), t);
      a[0] = a[1] = a[2] = 0, b[0] = b[1] = b[2] = 0;
    }
  }
  return img;
}

double median(std::vector<int> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

json nan_safe(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

struct Direction {
  std::string label;  // "seed2<-seed1": the target net from the source net
  SparsePrediction sp;
};

// The paper's SGD validation losses (PAPER.md, method 4), for the comparison rows.
const std::map<std::string, std::map<double, double>> kPaperLoss = {
    {"conv1", {{0, 0.170}, {1e-5, 0.169}, {1e-4, 0.162}, {1e-3, 0.172}, {1e-2, 0.485}, {1e-1, 0.519}}},
    {"conv2", {{0, 0.373}, {1e-5, 0.368}, {1e-4, 0.337}, {1e-3, 0.392}, {1e-2, 0.518}, {1e-1, 0.513}}}};

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("align --correlate-dir DIR [options]",
                   "Beyond one-to-one matching, from the raw moments bin/correlate stored (DIR/<layer>/moments/),\n"
                   "with no pass over the data. Per layer and pair of nets:\n"
                   "  sparse prediction (few-to-one): each unit of one net predicted from all units of the other by\n"
                   "    a Lasso on standardised units, (1/2) E[(y - w.x)^2] + penalty |w|_1, solved exactly from the\n"
                   "    correlations (coordinate descent, duality-gap stop; penalty 0 = exact least squares). Reported\n"
                   "    loss = (1/2) mean squared error of the standardised targets (0.5 = predicting the mean), the\n"
                   "    mean number of non-zero weights, and per target the fewest inputs reaching --fraction of\n"
                   "    the unpenalised R^2. Both directions.\n"
                   "  spectral groups (many-to-many): the joint correlation matrix of both nets' units, affinity\n"
                   "    |corr|, normalised Laplacian, k by the largest eigengap (or --groups), k-means; heatmaps.\n"
                   "  global scores: linear CKA, CCA (mean of all canonical correlations), SVCCA (99% variance),\n"
                   "    PWCCA, orthogonal Procrustes distance (0..2).\n"
                   "Nets may differ in width. Zero-variance units are left out and reported. Nets are called by the\n"
                   "names bin/correlate gave them; <p>, <q> in file names are their 0-based indices there (A = p,\n"
                   "B = q). Writes OUT/summary.json, and per layer and pair OUT/<layer>/pair_<p>_<q>/*.npy and *.png.\n"
                   "Every file and JSON key: docs/OUTPUTS.md. Exit codes: 0 ok, 1 failure, 2 bad usage or input.");
    args.opt("correlate-dir", "", "bin/correlate's output folder (required)")
        .opt("layers", "", "comma-separated layers (default: every layer with moments)")
        .opt("out", "runs/align", "output folder")
        .opt("groups", "0", "number of spectral groups (0: the largest eigengap)")
        .opt("max-groups", "0", "largest k the eigengap may pick (0: a quarter of the units)")
        .opt("penalties", "0,1e-5,1e-4,1e-3,10^-2.6,1e-2,1e-1", "Lasso penalties, comma-separated (10^x allowed)")
        .opt("fraction", "0.9", "per target: fewest inputs reaching this fraction of the unpenalised R^2")
        .opt("lasso-max-units", "1024", "skip the Lasso for layers with more units than this (cost ~ units^3)")
        .opt("bootstrap", "200", "95% intervals of the global scores over this many resamples of the block moments\n"
                                 "bin/correlate stored (moments/blocks/; none there or 0: no intervals)")
        .opt("bootstrap-seed", "1", "seed of the resampling");
    if (!args.parse(argc, argv)) return 0;
    if (!args.positional().empty()) throw cli::UsageError("unexpected argument '" + args.positional()[0] + "' (see --help)");
    if (!args.given("correlate-dir")) throw cli::UsageError("--correlate-dir is required (see --help)");
    const std::string dir = args.str("correlate-dir"), out = args.str("out");
    SparsePredictionOptions lopt;
    lopt.penalties.clear();
    for (const std::string& p : split(args.str("penalties"))) lopt.penalties.push_back(parse_penalty(p));
    if (lopt.penalties.empty()) throw cli::UsageError("--penalties: give at least one");
    lopt.fit_fraction = args.real("fraction");
    if (!(lopt.fit_fraction > 0 && lopt.fit_fraction <= 1)) throw cli::UsageError("--fraction must be in (0, 1]");
    SpectralOptions gopt;
    gopt.groups = (int)args.integer("groups");
    gopt.max_groups = (int)args.integer("max-groups");
    if (gopt.groups < 0 || gopt.max_groups < 0) throw cli::UsageError("--groups and --max-groups must be >= 0");
    const long long lasso_max = args.integer("lasso-max-units");

    const CorrelateOutput corr = open_correlate_output(dir);
    std::vector<std::string> net_names;
    for (const NetRecord& r : corr.nets) net_names.push_back(r.name);
    std::vector<std::string> layers = corr.layers;
    if (args.given("layers")) {
      layers = split(args.str("layers"));
      for (const std::string& l : layers) corr.layer(l);  // names the layers there when l is not
    }
    if (layers.empty()) throw InputError(dir + ": no layers in this bin/correlate output");

    make_dirs(out);
    std::printf("align: %s, %zu layers\n", dir.c_str(), layers.size());
    for (const NetRecord& r : corr.nets) std::printf("  net %s\n", describe(r).c_str());
    std::printf("Lasso loss = (1/2) mean over target units of E[(y - w.x)^2], y and x standardised (0.5 = predicting\n"
                "the mean); fitted and evaluated on the same samples (in-sample, exact).\n");

    json summary = {{"correlate_dir", dir},
                    {"nets", net_names},
                    {"penalties", lopt.penalties},
                    {"fit_fraction", lopt.fit_fraction},
                    {"lasso_loss", "(1/2) mean over targets of E[(y - w.x)^2], standardised units; 0.5 = predicting the mean"},
                    {"spectral_affinity", "|corr| off the diagonal, normalised Laplacian, NJW row-normalised embedding, k-means++ (seeded)"},
                    {"cca_rank_cut", ScoreOptions{}.rank_cut},
                    {"svcca_variance_kept", ScoreOptions{}.svcca_keep},
                    {"layers", json::array()}};
    struct TableRow {
      std::string layer, dir;
      std::vector<double> loss, nonzero;
    };
    std::vector<TableRow> table;

    for (const std::string& layer : layers) {
      const Moments m = load_moments(dir + "/" + layer + "/moments");
      const int resamples = (int)args.integer("bootstrap");
      if (resamples < 0) throw cli::UsageError("--bootstrap must be >= 0");
      const std::vector<Moments> blocks = resamples > 0 ? load_block_moments(dir + "/" + layer + "/moments/blocks", m) : std::vector<Moments>{};
      json lj = {{"layer", layer}, {"units", m.units}, {"samples_per_unit", m.count}, {"pairs", json::array()}};
      std::printf("\n== %s: units", layer.c_str());
      for (int u : m.units) std::printf(" %d", u);
      std::printf(", %.0f samples per unit\n", m.count);
      for (int p = 0; p < m.nets(); ++p)
        for (int q = p + 1; q < m.nets(); ++q) {
          const PairMoments pm = pair_moments(m, p, q);
          const std::string tag = std::to_string(p) + "_" + std::to_string(q);
          const std::string pdir = out + "/" + layer + "/pair_" + tag;
          make_dirs(pdir);
          const std::string A = net_names[p], B = net_names[q];
          std::printf("-- pair %d-%d: A = %s, B = %s\n", p, q, A.c_str(), B.c_str());
          json pj = {{"nets", {p, q}}, {"net_a", A}, {"net_b", B}};
          pj["zero_variance_units"] = {pm.zero_a, pm.zero_b};
          if (!pm.zero_a.empty() || !pm.zero_b.empty())
            std::printf("  zero-variance units left out: %s %zu, %s %zu\n", A.c_str(), pm.zero_a.size(), B.c_str(),
                        pm.zero_b.size());
          write_npy(pdir + "/units_a.npy", pm.valid_a.data(), {pm.valid_a.size()});
          write_npy(pdir + "/units_b.npy", pm.valid_b.data(), {pm.valid_b.size()});

          // Few-to-one, both directions.
          std::vector<Direction> dirs;
          if (std::max(pm.na(), pm.nb()) > lasso_max) {
            std::printf("  sparse prediction skipped: %d / %d units > --lasso-max-units %lld\n", pm.na(), pm.nb(), lasso_max);
          } else {
            std::vector<double> ba((size_t)pm.nb() * pm.na());
            for (int i = 0; i < pm.na(); ++i)
              for (int j = 0; j < pm.nb(); ++j) ba[(size_t)j * pm.na() + i] = pm.corr_ab[(size_t)i * pm.nb() + j];
            dirs.push_back({B + "<-" + A, sparse_prediction(pm.corr_aa, pm.corr_ab, pm.na(), pm.nb(), lopt)});
            dirs.push_back({A + "<-" + B, sparse_prediction(pm.corr_bb, ba, pm.nb(), pm.na(), lopt)});
          }
          if (!dirs.empty()) {
            std::printf("  sparse prediction   penalty:");
            for (double l : lopt.penalties) std::printf(" %8s", penalty_label(l).c_str());
            std::printf("\n");
          }
          json sj = json::array();
          for (size_t d = 0; d < dirs.size(); ++d) {
            const SparsePrediction& sp = dirs[d].sp;
            const int P = (int)sp.penalties.size(), T = sp.targets, S = sp.sources;
            TableRow row{layer, dirs[d].label, {}, {}};
            std::printf("  %s (target <- source):\n  %-12s      loss:", dirs[d].label.c_str(), "");
            for (int k = 0; k < P; ++k) std::printf(" %8.4f", sp.mean_loss(k)), row.loss.push_back(sp.mean_loss(k));
            std::printf("\n  %-12s  non-zero:", "");
            for (int k = 0; k < P; ++k) std::printf(" %8.2f", sp.mean_nonzero(k)), row.nonzero.push_back(sp.mean_nonzero(k));
            std::printf("\n  %-12s  positive:", "");
            for (int k = 0; k < P; ++k) std::printf(" %7.0f%%", 100 * sp.positive_fraction(k));
            std::printf("\n");
            int unconverged = 0;
            for (int k = 0; k < P; ++k) unconverged += sp.unconverged[k];
            if (unconverged) std::printf("  %-12s  warning: %d fits stopped at the sweep limit (their duality gaps are in the JSON)\n", "", unconverged);
            int few = 0;
            for (int u : sp.units_for_fraction) few += u <= 4;
            const double med = median(sp.units_for_fraction);
            const double mean_units = T ? std::accumulate(sp.units_for_fraction.begin(), sp.units_for_fraction.end(), 0.0) / T : NAN;
            std::printf("  %-12s  inputs for %.0f%% of the unpenalised R^2: median %.1f, mean %.2f, <= 4 inputs for %d of %d targets\n",
                        "", 100 * sp.fit_fraction, med, mean_units, few, T);
            table.push_back(row);

            const std::string stem = pdir + "/lasso_" + (d == 0 ? std::to_string(q) + "_from_" + std::to_string(p)
                                                                 : std::to_string(p) + "_from_" + std::to_string(q));
            std::vector<double> mse, gap;
            std::vector<int32_t> nz;
            std::vector<float> w;
            for (int k = 0; k < P; ++k) {
              mse.insert(mse.end(), sp.mse[k].begin(), sp.mse[k].end());
              gap.insert(gap.end(), sp.gap[k].begin(), sp.gap[k].end());
              nz.insert(nz.end(), sp.nonzero[k].begin(), sp.nonzero[k].end());
              if (!sp.weights.empty()) w.insert(w.end(), sp.weights[k].begin(), sp.weights[k].end());
            }
            write_npy(stem + "_mse.npy", mse.data(), {(size_t)P, (size_t)T});
            write_npy(stem + "_nonzero.npy", nz.data(), {(size_t)P, (size_t)T});
            if (!w.empty()) write_npy(stem + "_weights.npy", w.data(), {(size_t)P, (size_t)T, (size_t)S});
            write_npy(stem + "_r2_unpenalised.npy", sp.r2_unpenalised.data(), {(size_t)T});
            write_npy(stem + "_inputs_for_fraction.npy", sp.units_for_fraction.data(), {(size_t)T});
            json per = json::array();
            for (int k = 0; k < P; ++k) {
              double worst_gap = 0;
              for (double g : sp.gap[k]) worst_gap = std::max(worst_gap, g);
              per.push_back({{"penalty", sp.penalties[k]},
                             {"mean_loss", nan_safe(sp.mean_loss(k))},
                             {"mean_normalised_mse", nan_safe(sp.mean_mse(k))},
                             {"mean_nonzero", nan_safe(sp.mean_nonzero(k))},
                             {"positive_fraction_of_nonzero", nan_safe(sp.positive_fraction(k))},
                             {"unconverged_targets", sp.unconverged[k]},
                             {"worst_duality_gap", worst_gap}});
            }
            sj.push_back({{"direction", dirs[d].label},
                          {"targets", T},
                          {"sources", S},
                          {"per_penalty", per},
                          {"inputs_for_fraction", {{"fraction", sp.fit_fraction}, {"median", nan_safe(med)},
                                                   {"mean", nan_safe(mean_units)}, {"at_most_4", few}}},
                          {"files", stem + "_*.npy (rows: penalties as listed; targets and sources: valid units, see units_a/b.npy)"}});
          }
          pj["sparse_prediction"] = sj;

          // Global scores.
          const GlobalScores s = global_scores(pm);
          std::printf("  scores: CKA %.4f | CCA mean %.4f (%d canonical corr., top %.3f) | SVCCA %.4f (%d/%d dims) | "
                      "PWCCA %.4f | Procrustes %.4f\n",
                      s.cka, s.cca_mean, (int)s.cca.size(), s.cca.empty() ? NAN : s.cca[0], s.svcca_mean, s.svcca_dims_a,
                      s.svcca_dims_b, s.pwcca, s.procrustes);
          if (!blocks.empty()) {
            const json iv = global_score_intervals(blocks, p, q, resamples, (uint64_t)args.integer("bootstrap-seed"));
            std::printf("  95%% intervals (%d resamples of %zu blocks, %.1f s): CKA [%.4f, %.4f] | CCA [%.4f, %.4f] | SVCCA [%.4f, %.4f] | "
                        "PWCCA [%.4f, %.4f] | Procrustes [%.4f, %.4f]\n", resamples, blocks.size(), iv["seconds"].get<double>(),
                        iv["cka_linear"][0].get<double>(), iv["cka_linear"][1].get<double>(), iv["cca_mean"][0].get<double>(),
                        iv["cca_mean"][1].get<double>(), iv["svcca_mean"][0].get<double>(), iv["svcca_mean"][1].get<double>(),
                        iv["pwcca"][0].get<double>(), iv["pwcca"][1].get<double>(), iv["procrustes"][0].get<double>(),
                        iv["procrustes"][1].get<double>());
            pj["scores_interval"] = iv;
          }
          write_npy(pdir + "/cca.npy", s.cca.data(), {s.cca.size()});
          write_npy(pdir + "/svcca.npy", s.svcca.data(), {s.svcca.size()});
          pj["scores"] = {{"cka_linear", s.cka},
                          {"cca_mean", s.cca_mean},
                          {"cca_count", s.cca.size()},
                          {"cca_rank", {s.cca_rank_a, s.cca_rank_b}},
                          {"cca_top", s.cca.empty() ? json(nullptr) : json(s.cca[0])},
                          {"svcca_mean", s.svcca_mean},
                          {"svcca_dims", {s.svcca_dims_a, s.svcca_dims_b}},
                          {"pwcca", s.pwcca},
                          {"pwcca_weights_from_a", s.pwcca_a},
                          {"pwcca_weights_from_b", s.pwcca_b},
                          {"procrustes", s.procrustes}};

          // Many-to-many groups and the heatmaps.
          const std::vector<double> J = joint_correlation(pm);
          const int n = pm.na() + pm.nb();
          const SpectralGroups g = spectral_groups(J, n, pm.na(), gopt);
          std::vector<int> cuts;
          int at = 0, singles = 0;
          for (const UnitGroup& G : g.groups) at += (int)G.nodes.size(), cuts.push_back(at), singles += G.nodes.size() == 1;
          write_png(pdir + "/joint.png", joint_heatmap(J, n, {pm.na()}));
          write_png(pdir + "/joint_grouped.png", joint_heatmap(permuted(J, n, g.order), n, cuts));
          write_npy(pdir + "/joint_corr.npy", J.data(), {(size_t)n, (size_t)n});
          write_npy(pdir + "/groups_label.npy", g.label.data(), {(size_t)n});
          write_npy(pdir + "/groups_order.npy", g.order.data(), {(size_t)n});
          std::printf("  groups: %d (%s), %d mixed (units of both nets), %d single units; sizes", g.k,
                      g.k_from_eigengap ? "eigengap" : "--groups", g.mixed, singles);
          for (size_t k = 0; k < std::min<size_t>(g.groups.size(), 12); ++k)
            std::printf(" %d+%d", g.groups[k].from_a, g.groups[k].from_b);
          std::printf("%s\n", g.groups.size() > 12 ? " ..." : "");
          json gj = json::array();
          for (const UnitGroup& G : g.groups) {
            std::vector<int> ua, ub;
            for (int node : G.nodes) (node < pm.na() ? ua.push_back(pm.valid_a[node]) : ub.push_back(pm.valid_b[node - pm.na()]));
            gj.push_back({{"units_a", ua}, {"units_b", ub}, {"mean_corr", nan_safe(G.mean_corr)},
                          {"mean_abs_corr", nan_safe(G.mean_abs_corr)}, {"mean_between_net_corr", nan_safe(G.mean_between)}});
          }
          pj["groups"] = {{"k", g.k}, {"chosen_by", g.k_from_eigengap ? "eigengap" : "--groups"}, {"mixed", g.mixed},
                          {"laplacian_eigenvalues", g.laplacian_eigenvalues}, {"groups", gj},
                          {"files", pdir + "/joint.png (natural order, line between the nets), joint_grouped.png (group-sorted)"}};
          lj["pairs"].push_back(pj);
        }
      summary["layers"].push_back(lj);
    }

    // The paper's table: mean loss per layer and penalty.
    if (!table.empty()) {
      std::printf("\nSparse prediction loss (1/2 MSE of standardised targets; 0.5 = predicting the mean), exact Lasso:\n");
      int w = 14;
      for (const TableRow& r : table) w = std::max(w, (int)r.dir.size());
      std::printf("%-8s %-*s", "layer", w, "target<-source");
      for (double l : lopt.penalties) std::printf(" %8s", penalty_label(l).c_str());
      std::printf("\n");
      for (const TableRow& r : table) {
        std::printf("%-8s %-*s", r.layer.c_str(), w, r.dir.c_str());
        for (double x : r.loss) std::printf(" %8.3f", x);
        std::printf("\n");
      }
      bool header = false;
      for (const auto& [name, row] : kPaperLoss) {
        if (std::find(layers.begin(), layers.end(), name) == layers.end()) continue;
        if (!header) std::printf("paper (CaffeNet on ImageNet, SGD 1x1 conv, validation loss; PAPER.md):\n"), header = true;
        std::printf("%-8s %-*s", name.c_str(), w, "Net2<-Net1");
        for (double l : lopt.penalties) {
          auto it = std::find_if(row.begin(), row.end(), [&](const auto& kv) { return std::fabs(kv.first - l) <= 1e-12 * std::max(1.0, l); });
          if (it == row.end()) std::printf(" %8s", "-");
          else std::printf(" %8.3f", it->second);
        }
        std::printf("\n");
      }
      std::printf("Penalties act on our per-target objective; the paper's penalty scale (Caffe's L1 decay on its\n"
                  "summed loss) is not directly comparable, so compare shapes, not columns.\n");
    }
    write_file_atomic(out + "/summary.json", summary.dump(1) + "\n");
    std::printf("\nwrote %s/summary.json, per-pair .npy and heatmaps under %s/<layer>/pair_<p>_<q>/\n", out.c_str(), out.c_str());
    return 0;
  });
}
