// bin/permute: net B with its units reordered into net A's order by bin/correlate's bipartite matching (grouped
// layers: matched again inside their channel groups), written as a new run folder, with the test accuracy before and after.
#include <cstdio>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "nn/import.h"
#include "base/npy.h"
#include "analysis/match/permute.h"
#include "nn/trainer.h"
#include "base/cli.h"
#include "tools/open_run.h"

using namespace cvg;
using json = nlohmann::json;

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args a("permute RUN_B --correlate-dir DIR --out RUN_B_PERMUTED [--to RUN_A] [options]",
                "Reorders the units of net B into net A's order by bin/correlate's\n"
                "bipartite matching of each conv and fc layer but the classifier: weights, biases, momenta and the\n"
                "next layer's inputs (fc6's input is conv5's flattened pooled map, moved channel block by block).\n"
                "Writes RUN_B_PERMUTED/ckpt-*.bin, perm_<layer>.npy (int64: new unit i = old unit p[i]) and\n"
                "permute.json. An LRN across channels does not commute with every permutation: with one after a\n"
                "permuted layer the permuted net is not the same function. The test accuracy of the permuted net\n"
                "is reported next to the original's, with the share of images whose predicted class changed (the\n"
                "accuracy alone can barely move); without such an LRN the two nets compute the same function.\n"
                "Channel groups (a conv layer's \"group\" > 1: CaffeNet's conv2, conv4, conv5) are kept: the units\n"
                "of a grouped layer and of the layer feeding it move only as whole groups, by one group order\n"
                "along each chain of such layers (conv1-conv2, conv3-conv4-conv5). bin/correlate's matching\n"
                "ignores groups, so those layers are matched again from its correlations: the best matching\n"
                "inside each pair of groups, with the group order that maximises the chain's summed correlation;\n"
                "the table gives its mean correlation next to bin/correlate's.\n"
                "RUN_B is a run folder (its newest checkpoint) or a ckpt-*.bin file; both nets are found in the\n"
                "correlate output by their weights. Every file and JSON key: docs/OUTPUTS.md.");
    a.opt("correlate-dir", "runs/correlate", "bin/correlate's output folder holding nets A and B")
        .opt("to", "", "net A (run folder or checkpoint); default: the other net when the output holds two")
        .opt("out", "", "run folder to create for the permuted net (must not exist, or be empty)")
        .opt("data", "", "dataset for the accuracies (default: the one net B was trained on)")
        .opt("data-dir", "", "folder of the fashion-mnist IDX files")
        .opt("split", "test", "train | test")
        .opt("max-images", "", "evaluate on the first N images only (default: all)")
        .opt("batch", "128", "images per batch")
        .flag("no-eval", "skip the accuracies")
        .opt("device", "auto", "cpu | cuda | cuda:N | auto")
        .opt("threads", "2", "data-loading threads");
    if (!a.parse(argc, argv)) return 0;
    if (a.positional().size() != 1) throw cli::UsageError("give one run, net B (see --help)");
    if (a.str("out").empty()) throw cli::UsageError("--out is required (see --help)");
    require_new_folder(a.str("out"));
    long long max_images = -1;  // all
    if (a.given("max-images") && (max_images = a.integer("max-images")) < 1)
      throw cli::UsageError("--max-images must be at least 1 (leave it out for all images)");
    const int batch = a.int32("batch"), threads = a.loader_threads();
    if (batch <= 0) throw cli::UsageError("--batch must be positive");
    const bool eval = !a.on("no-eval");
    if (!eval && (a.given("data") || a.given("split") || a.given("max-images")))
      throw cli::UsageError("--data, --split and --max-images choose the images of the accuracies, which --no-eval skips");
    Device dev = parse_device(a.str("device"));

    Checkpoint ck = open_run(a.positional()[0]);
    std::unique_ptr<Net> net = ck.make_net(dev, batch);
    const std::string cdir = a.str("correlate-dir");
    const CorrelateOutput co = open_correlate_output(cdir);
    const int ib = co.find_net(ck, a.positional()[0]);
    int ia = -1;
    if (a.given("to")) {
      ia = co.find_net(open_run(a.str("to")), a.str("to"));
    } else if (co.nets.size() == 2) {
      ia = 1 - ib;
    } else {
      throw cli::UsageError(cdir + " holds " + std::to_string(co.nets.size()) + " nets (" + co.nets_list() +
                            "): say which is net A with --to RUN_A");
    }
    if (ia == ib) throw cli::UsageError("--to names net B itself");
    std::map<std::string, MatchingReport> grouped;
    UnitPermutations perms = matching_permutations(co, ia, ib, *net, &grouped);
    std::unique_ptr<Dataset> data;
    if (eval) data = open_eval_data(ck, a.str("data"), a.str("split"), a.str("data-dir"), max_images);

    json summary = {{"net", ck.path},
                    {"correlate_dir", cdir},
                    {"net_a", co.nets[ia].name},
                    {"net_b", co.nets[ib].name},
                    {"layers", json::array()}};
    Net::Metrics before, after;
    std::vector<int> predicted_before, predicted_after;
    if (eval) before = evaluate(*net, *data, batch, threads, &predicted_before);
    permute_units(*net, perms);
    if (eval) after = evaluate(*net, *data, batch, threads, &predicted_after);

    std::printf("permute: %s into net A's order by %s\n%-7s %6s %12s  %s\n", ck.path.c_str(), cdir.c_str(), "layer", "units",
                "units moved", "matching");
    bool any_moved = false;
    for (const auto& [layer, p] : perms) {
      int moved = 0;
      for (size_t i = 0; i < p.size(); ++i) moved += p[i] != (int)i;
      any_moved = any_moved || moved > 0;
      json lj = {{"layer", layer}, {"units", p.size()}, {"moved", moved}};
      std::string how = "bin/correlate's";
      if (auto it = grouped.find(layer); it != grouped.end()) {
        const MatchingReport& r = it->second;
        std::string order;
        for (int h : r.group_order) order += (order.empty() ? "" : ",") + std::to_string(h);
        char buf[160];
        std::snprintf(buf, sizeof buf, "within %d groups, B's groups %s: mean r %.4f (bin/correlate's, across groups: %.4f)",
                      r.groups, order.c_str(), r.mean_corr, r.correlate_mean_corr);
        how = buf;
        lj["groups"] = r.groups, lj["group_order"] = r.group_order;
        lj["mean_corr"] = r.mean_corr, lj["correlate_mean_corr"] = r.correlate_mean_corr;
      }
      lj["matching"] = grouped.count(layer) ? "within_groups" : "correlate";
      std::printf("%-7s %6zu %12d  %s\n", layer.c_str(), p.size(), moved, how.c_str());
      summary["layers"].push_back(lj);
    }
    if (eval) {
      auto metrics = [](const Net::Metrics& m) {
        return json{{"loss", m.loss_sum / m.n}, {"top1", (double)m.top1 / m.n}, {"top5", (double)m.top5 / m.n}};
      };
      summary["data"] = data->describe() + " (" + a.str("split") + ")";
      summary["original"] = metrics(before);
      summary["permuted"] = metrics(after);
      // How far the function moved, which the accuracy alone understates (an LRN's effect).
      size_t changed = 0;
      for (size_t i = 0; i < predicted_before.size(); ++i) changed += predicted_before[i] != predicted_after[i];
      const double changed_fraction = predicted_before.empty() ? 0.0 : (double)changed / predicted_before.size();
      summary["predictions_changed"] = changed_fraction;
      std::printf("%s accuracy (%s): original %.4f, permuted %.4f (loss %.5f -> %.5f); predictions changed: %.2f%%\n",
                  a.str("split").c_str(), data->describe().c_str(), (double)before.top1 / before.n, (double)after.top1 / after.n,
                  before.loss_sum / before.n, after.loss_sum / after.n, 100 * changed_fraction);
    }
    bool lrn = false;
    for (const auto& l : net->layers()) lrn = lrn || l->cfg.type == "lrn";
    if (lrn && any_moved)
      std::printf("note: the net has a cross-channel LRN, so the permuted net is not the same function%s\n",
                  eval ? " (see the predictions changed above)" : "");

    CheckpointInfo info = ck.info;
    info.extra["permuted_from"] = ck.path;
    info.extra["correlate_dir"] = cdir;
    std::string path = write_run_folder(a.str("out"), *net, info, [&](const std::string& dir) {
      for (const auto& [layer, p] : perms) {
        std::vector<int64_t> v(p.begin(), p.end());
        write_npy(dir + "/perm_" + layer + ".npy", v.data(), {v.size()});
      }
      write_file_atomic(dir + "/permute.json", summary.dump(1) + "\n");
    });
    std::printf("wrote %s\n", path.c_str());
    return 0;
  });
}
