// bin/align: beyond one-to-one matching, from the moments bin/correlate stored (no pass over the
// data): few-to-one sparse prediction (Lasso), many-to-many spectral groups, and global scores
// (linear CKA, CCA, SVCCA, PWCCA, orthogonal Procrustes), per layer and pair of nets.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/align/report.h"
#include "analysis/align/score_intervals.h"
#include "analysis/plot/font.h"
#include "analysis/stats/correlate_io.h"
#include "analysis/stats/paper_claims.h"
#include "base/io.h"
#include "base/cli.h"

using namespace cvg;
using json = nlohmann::json;

namespace {

// bin/align's output, which --out may replace as a whole: a summary.json of ours.
bool looks_like_align_output(const std::string& dir) {
  if (!file_exists(dir + "/summary.json")) return false;
  const std::vector<char> b = read_file(dir + "/summary.json");
  const json j = json::parse(b.begin(), b.end(), nullptr, false);
  return j.is_object() && j.contains("lasso_loss") && j.contains("correlate_dir");
}
const OutputOwner kAlignOwner{"bin/align", looks_like_align_output};

// "1e-3", "0.01" or "10^-2.6".
double parse_penalty(const std::string& s) {
  std::string t = s;
  bool power = t.rfind("10^", 0) == 0;
  if (power) t = t.substr(3);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end || std::isspace((unsigned char)t[0]) || t.find_first_of("xX") != std::string::npos)
    throw cli::UsageError("--penalties: '" + s + "' is not a number (e.g. 1e-3 or 10^-2.6)");
  const double x = power ? std::pow(10.0, v) : v;
  if (!(x >= 0) || !std::isfinite(x)) throw cli::UsageError("--penalties: '" + s + "' must be finite and >= 0");
  return x;
}

std::string penalty_label(double l) {
  if (l == 0) return "0";
  const double e = std::log10(l);
  char buf[32];
  if (std::fabs(e - std::round(e)) < 1e-9)
    std::snprintf(buf, sizeof buf, "1e%d", (int)std::round(e));
  else if (std::fabs(e * 10 - std::round(e * 10)) < 1e-9)
    std::snprintf(buf, sizeof buf, "10^%.1f", e);
  else
    std::snprintf(buf, sizeof buf, "%.3g", l);
  return buf;
}

// One row of the final loss table: a layer and direction, the mean loss per penalty.
struct TableRow {
  std::string layer, dir;
  std::vector<double> loss;
};

std::vector<double> loss_per_penalty(const SparsePrediction& sp) {
  std::vector<double> loss;
  for (int k = 0; k < (int)sp.penalties.size(); ++k) loss.push_back(sp.mean_loss(k));
  return loss;
}

void print_direction(const PredictionDirection& d) {
  const SparsePrediction& sp = d.sp;
  const int P = (int)sp.penalties.size();
  std::printf("  %s (target <- source):\n  %-12s      loss:", d.label.c_str(), "");
  for (int k = 0; k < P; ++k) std::printf(" %8.4f", sp.mean_loss(k));
  std::printf("\n  %-12s  non-zero:", "");
  for (int k = 0; k < P; ++k) std::printf(" %8.2f", sp.mean_nonzero(k));
  std::printf("\n  %-12s  positive:", "");
  for (int k = 0; k < P; ++k) std::printf(" %7.0f%%", 100 * sp.positive_fraction(k));
  std::printf("\n");
  if (d.unconverged)
    std::printf("  %-12s  warning: %d fits stopped at the sweep limit (their duality gaps are in the JSON)\n", "", d.unconverged);
  std::printf("  %-12s  inputs for %.0f%% of the unpenalised R^2: median %.1f, mean %.2f, <= 4 inputs for %d of %d targets\n", "",
              100 * sp.fit_fraction, d.median_inputs, d.mean_inputs, d.at_most_4, sp.targets);
}

void print_pair(const AlignPairReport& r, const AlignOptions& opt) {
  const PairMoments& pm = r.pm;
  const char *A = r.net_a.c_str(), *B = r.net_b.c_str();
  std::printf("-- pair %d-%d: A = %s, B = %s\n", r.p, r.q, A, B);
  if (!r.skipped.empty()) return (void)std::printf("  skipped: %s\n", r.skipped.c_str());
  if (!pm.zero_a.empty() || !pm.zero_b.empty())
    std::printf("  zero-variance units left out: %s %zu, %s %zu\n", A, pm.zero_a.size(), B, pm.zero_b.size());
  if (r.lasso_skipped)
    std::printf("  sparse prediction skipped: %d / %d units > --lasso-max-units %lld\n", pm.na(), pm.nb(), opt.lasso_max_units);
  if (!r.directions.empty()) {
    std::printf("  sparse prediction   penalty:");
    for (double l : opt.lasso.penalties) std::printf(" %8s", penalty_label(l).c_str());
    std::printf("\n");
  }
  for (const PredictionDirection& d : r.directions) print_direction(d);
  const GlobalScores& s = r.scores;
  std::printf(
      "  scores: CKA %.4f | CCA mean %.4f (%d canonical corr., top %.3f) | SVCCA %.4f (%d/%d dims) | "
      "PWCCA %.4f | Procrustes %.4f\n",
      s.cka, s.cca_mean, (int)s.cca.size(), s.cca.empty() ? NAN : s.cca[0], s.svcca_mean, s.svcca_dims_a, s.svcca_dims_b, s.pwcca,
      s.procrustes);
  const SpectralGroups& g = r.groups;
  std::printf("  groups: %d (%s), %d mixed (units of both nets), %d single units; sizes", g.k,
              g.k_from_eigengap ? "eigengap" : "--groups", g.mixed, r.single_units);
  for (size_t k = 0; k < std::min<size_t>(g.groups.size(), 12); ++k)
    std::printf(" %d+%d", g.groups[k].from_a, g.groups[k].from_b);
  std::printf("%s\n", g.groups.size() > 12 ? " ..." : "");
}

// The paper's table: mean loss per layer and penalty, ours and (for its layers) the paper's.
void print_loss_table(const std::vector<TableRow>& table, const std::vector<std::string>& layers,
                      const std::vector<double>& penalties) {
  std::printf("\nSparse prediction loss (1/2 MSE of standardised targets; 0.5 = predicting the mean), exact Lasso:\n");
  int w = 14;
  for (const TableRow& r : table) w = std::max(w, (int)r.dir.size());
  std::printf("%-8s %-*s", "layer", w, "target<-source");
  for (double l : penalties) std::printf(" %8s", penalty_label(l).c_str());
  std::printf("\n");
  for (const TableRow& r : table) {
    std::printf("%-8s %-*s", r.layer.c_str(), w, r.dir.c_str());
    for (double x : r.loss) std::printf(" %8.3f", x);
    std::printf("\n");
  }
  bool header = false;
  for (const std::string& name : layers) {
    const std::map<double, double> row = paper_sparse_loss(name);
    if (row.empty()) continue;
    if (!header) std::printf("paper (CaffeNet on ImageNet, SGD 1x1 conv, validation loss; docs/PAPER.md):\n"), header = true;
    std::printf("%-8s %-*s", name.c_str(), w, "Net2<-Net1");
    for (double l : penalties) {
      auto it = std::find_if(row.begin(), row.end(),
                             [&](const auto& kv) { return std::fabs(kv.first - l) <= 1e-12 * std::max(1.0, l); });
      if (it == row.end())
        std::printf(" %8s", "-");
      else
        std::printf(" %8.3f", it->second);
    }
    std::printf("\n");
  }
  std::printf(
      "Penalties act on our per-target objective; the paper's penalty scale (Caffe's L1 decay on its\n"
      "summed loss) is not directly comparable, so compare shapes, not columns.\n");
}

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
                   "    mean number of non-zero weights, and per target the inputs of the first fit on its Lasso path\n"
                   "    reaching --fraction of the unpenalised R^2 (not a best-subset search). Both directions.\n"
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
        .opt("out", "runs/align", "output folder (replaced as a whole)")
        .opt("groups", "0", "number of spectral groups (0: the largest eigengap)")
        .opt("max-groups", "0", "largest k the eigengap may pick (0: a quarter of the units)")
        .opt("restarts", "0",
             "k-means restarts, the lowest inertia kept (0: 10-100, as many as ~1e9 multiply-adds per iteration allow)")
        .opt("penalties", "0,1e-5,1e-4,1e-3,10^-2.6,1e-2,1e-1", "Lasso penalties, comma-separated (10^x allowed)")
        .opt("fraction", "0.9", "per target: inputs of the first Lasso-path fit reaching this fraction of the unpenalised R^2")
        .opt("lasso-max-units", "1024", "skip the Lasso for layers with more units than this (cost ~ units^3)")
        .opt("bootstrap", "200",
             "95% intervals of the global scores over this many resamples of the block moments\n"
             "bin/correlate stored (moments/blocks/; none there or 0: no intervals)")
        .opt("bootstrap-seed", "1", "seed of the resampling");
    if (!args.parse(argc, argv)) return 0;
    plot::load_font();  // the heatmaps' labels: a missing font fails now, not after the analyses
    args.no_positional();
    if (!args.given("correlate-dir")) throw cli::UsageError("--correlate-dir is required (see --help)");
    const std::string dir = args.str("correlate-dir"), out = args.path("out");
    require_output_folder(out);
    SparsePredictionOptions lopt;
    lopt.penalties.clear();
    for (const std::string& p : args.list("penalties")) lopt.penalties.push_back(parse_penalty(p));
    if (lopt.penalties.empty()) throw cli::UsageError("--penalties: give at least one");
    lopt.fit_fraction = args.real("fraction");
    if (!(lopt.fit_fraction > 0 && lopt.fit_fraction <= 1)) throw cli::UsageError("--fraction must be in (0, 1]");
    SpectralOptions gopt;
    gopt.groups = args.int32("groups");
    gopt.max_groups = args.int32("max-groups");
    gopt.restarts = args.int32("restarts");
    if (gopt.groups < 0 || gopt.max_groups < 0 || gopt.restarts < 0 || gopt.restarts > 100000)
      throw cli::UsageError("--groups and --max-groups must be >= 0, --restarts in [0, 100000]");
    const long long lasso_max = args.integer("lasso-max-units");
    if (lasso_max < 0) throw cli::UsageError("--lasso-max-units must be >= 0 (0: no Lasso)");
    const int resamples = args.int32("bootstrap");
    if (resamples < 0) throw cli::UsageError("--bootstrap must be >= 0");
    const long long bootstrap_seed = args.integer("bootstrap-seed");
    if (bootstrap_seed < 0) throw cli::UsageError("--bootstrap-seed must be >= 0");

    const AlignOptions opt{lopt, gopt, lasso_max};
    const CorrelateOutput corr = open_correlate_output(dir);
    std::vector<std::string> net_names;
    for (const NetRecord& r : corr.nets) net_names.push_back(r.name);
    std::vector<std::string> layers = corr.layers;
    if (args.given("layers")) {
      layers = args.list("layers");
      for (const std::string& l : layers) corr.layer(l);  // names the layers there when l is not
    }
    if (layers.empty()) throw InputError(dir + ": no layers in this bin/correlate output");

    // Written into a partial folder, then put in place of --out as a whole: a failure leaves --out as it was.
    check_replaceable_output(out, kAlignOwner);
    const std::string work = partial_output_dir(out);
    try {
      std::printf("align: %s, %zu layers\n", dir.c_str(), layers.size());
      for (const NetRecord& r : corr.nets) std::printf("  net %s\n", describe(r).c_str());
      std::printf(
          "Lasso loss = (1/2) mean over target units of E[(y - w.x)^2], y and x standardised (0.5 = predicting\n"
          "the mean); fitted and evaluated on the same samples (in-sample, exact).\n");

      json summary = {{"correlate_dir", dir},
                      {"nets", net_names},
                      {"penalties", lopt.penalties},
                      {"fit_fraction", lopt.fit_fraction},
                      {"lasso_loss", "(1/2) mean over targets of E[(y - w.x)^2], standardised units; 0.5 = predicting the mean"},
                      {"spectral_affinity",
                       "|corr| off the diagonal, normalised Laplacian, NJW row-normalised embedding, k-means++ (seeded)"},
                      {"cca_rank_cut", ScoreOptions{}.rank_cut},
                      {"svcca_variance_kept", ScoreOptions{}.svcca_keep},
                      {"layers", json::array()}};
      std::vector<TableRow> table;
      for (const std::string& layer : layers) {
        const Moments m = read_layer_moments(corr, layer);
        const std::vector<Moments> blocks = resamples > 0 ? read_layer_block_moments(corr, layer, m) : std::vector<Moments>{};
        json lj = {{"layer", layer}, {"units", m.units}, {"samples_per_unit", m.count}, {"pairs", json::array()}};
        std::printf("\n== %s: units", layer.c_str());
        for (int u : m.units) std::printf(" %d", u);
        std::printf(", %.0f samples per unit\n", m.count);
        for (int p = 0; p < m.nets(); ++p)
          for (int q = p + 1; q < m.nets(); ++q) {
            const std::string pair_dir = layer + "/pair_" + std::to_string(p) + "_" + std::to_string(q),
                              pdir = work + "/" + pair_dir;
            make_dirs(pdir);
            const AlignPairReport r = align_pair(m, p, q, net_names[p], net_names[q], opt);
            print_pair(r, opt);
            json pj = write_pair_report(r, pdir, pair_dir);
            if (!blocks.empty()) {
              const json iv = global_score_intervals(blocks, p, q, resamples, (uint64_t)bootstrap_seed);
              std::printf(
                  "  95%% basic intervals (%d resamples of %zu blocks, %.1f s): CKA [%.4f, %.4f] | CCA [%.4f, %.4f] | SVCCA "
                  "[%.4f, %.4f] "
                  "| "
                  "PWCCA [%.4f, %.4f] | Procrustes [%.4f, %.4f]\n",
                  resamples, blocks.size(), iv["seconds"].get<double>(), iv["cka_linear"][0].get<double>(),
                  iv["cka_linear"][1].get<double>(), iv["cca_mean"][0].get<double>(), iv["cca_mean"][1].get<double>(),
                  iv["svcca_mean"][0].get<double>(), iv["svcca_mean"][1].get<double>(), iv["pwcca"][0].get<double>(),
                  iv["pwcca"][1].get<double>(), iv["procrustes"][0].get<double>(), iv["procrustes"][1].get<double>());
              pj["scores_interval"] = iv;
            }
            lj["pairs"].push_back(pj);
            for (const PredictionDirection& d : r.directions) table.push_back({layer, d.label, loss_per_penalty(d.sp)});
          }
        summary["layers"].push_back(lj);
      }
      if (!table.empty()) print_loss_table(table, layers, lopt.penalties);
      write_file_atomic(work + "/summary.json", summary.dump(1) + "\n");
      publish_output(work, out, kAlignOwner);
    } catch (...) {
      remove_tree(work);
      throw;
    }
    std::printf("\nwrote %s/summary.json, per-pair .npy and heatmaps under %s/<layer>/pair_<p>_<q>/\n", out.c_str(), out.c_str());
    return 0;
  });
}
