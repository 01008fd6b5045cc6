// bin/stitch: functional tests of a matching. `interpolate`: the loss along the straight line between
// two nets' weights, without and with B permuted into A's order. `layers`: A's layers up to L feeding
// B's (permuted) layers after L, for every L.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "base/npy.h"
#include "analysis/match/stitch.h"
#include "nn/trainer.h"
#include "base/cli.h"
#include "base/log.h"
#include "tools/open_run.h"

using namespace cvg;
using json = nlohmann::json;

namespace {

struct Nets {
  std::vector<Checkpoint> cks;
  std::vector<std::unique_ptr<Net>> nets;
  std::unique_ptr<Net> work;  // the mixed net
};

Nets open_nets(const std::vector<std::string>& runs, const Device& dev, int batch) {
  Nets n;
  for (const std::string& r : runs) {
    n.cks.push_back(open_run(r));
    n.nets.push_back(n.cks.back().make_net(dev, batch));
  }
  std::vector<Net*> raw;
  for (auto& net : n.nets) raw.push_back(net.get());
  comparable_layers(raw, {}, runs);  // the rules of every tool; stitching needs the same widths too:
  for (size_t i = 1; i < raw.size(); ++i) check_same_architecture(*raw[0], *raw[i], runs[0], runs[i]);
  n.work = n.cks[0].make_net(dev, batch);
  return n;
}

json curve_json(const std::vector<CurvePoint>& c) {
  json loss = json::array(), top1 = json::array();
  for (const CurvePoint& p : c) loss.push_back(p.loss), top1.push_back(p.top1);
  Barrier b = barrier_height(c);
  return {{"loss", loss}, {"top1", top1}, {"barrier", b.height}, {"barrier_t", b.t}};
}

void write_rows(const std::string& path, const std::vector<std::vector<double>>& rows) {
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  write_npy(path, flat.data(), {rows.size(), rows.empty() ? 0 : rows[0].size()});
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args a(
        "stitch interpolate RUN_A RUN_B [--permuted RUN_B_PERMUTED] [options]\n       stitch layers RUN_A RUN_B_PERMUTED "
        "[options]",
        "interpolate: test loss and accuracy of the weight average (1-t)A + tB for t = 0, 1/steps, ..., 1, and\n"
        "  with --permuted also of (1-t)A + tB' with B' = B permuted into A's order (bin/permute); the barrier\n"
        "  of each curve is the largest loss above the straight line between its end points. Writes\n"
        "  OUT/interpolate.json, OUT/interpolate_loss.npy and OUT/interpolate_top1.npy ([curves, steps+1], float64;\n"
        "  row 0 plain, row 1 permuted).\n"
        "layers: for each conv or fc layer L but the classifier, the net made of A's layers up to and including L\n"
        "  and B's after L (no retraining); its test loss and accuracy. Writes OUT/layers.json,\n"
        "  OUT/layers_loss.npy and OUT/layers_top1.npy ([layers], float64). With --fit N, also a 1x1 stitching\n"
        "  layer between A's part and B's (identity at the start) trained for N SGD iterations on the training\n"
        "  split with everything else frozen: layers_fit_loss.npy, layers_fit_top1.npy.\n"
        "A run is a run folder (its newest checkpoint) or a ckpt-*.bin file; the nets must share an architecture.\n"
        "Every file and JSON key: docs/OUTPUTS.md.");
    a.opt("permuted", "", "interpolate: net B permuted into A's order (bin/permute's output)")
        .opt("steps", "10", "interpolate: intervals between t = 0 and t = 1")
        .opt("fit", "0", "layers: iterations of training a 1x1 stitching layer per L (0: none)")
        .opt("fit-lr", "0.01", "layers --fit: learning rate (momentum 0.9, no weight decay)")
        .opt("fit-batch", "64", "layers --fit: images per training batch")
        .opt("out", "runs/stitch", "output folder")
        .opt("data", "", "dataset (default: the one net A was trained on)")
        .opt("data-dir", "", "folder of the fashion-mnist IDX files")
        .opt("split", "test", "train | test")
        .opt("max-images", "-1", "evaluate on the first N images only")
        .opt("batch", "128", "images per batch")
        .opt("device", "auto", "cpu | cuda | cuda:N | auto")
        .opt("threads", "2", "data-loading threads");
    if (!a.parse(argc, argv)) return 0;
    const auto& pos = a.positional();
    if (pos.empty() || (pos[0] != "interpolate" && pos[0] != "layers"))
      throw cli::UsageError("give a command: interpolate or layers (see --help)");
    if (pos.size() != 3) throw cli::UsageError(pos[0] + " needs two runs, RUN_A and RUN_B (see --help)");
    const bool interp = pos[0] == "interpolate";
    const int fit = a.int32("fit");
    if (fit < 0) throw cli::UsageError("--fit must be a non-negative number of iterations");
    if (interp && fit) throw cli::UsageError("--fit belongs to `layers`");
    if (!interp && a.given("permuted"))
      throw cli::UsageError("--permuted belongs to interpolate; `layers` takes the permuted net as RUN_B");
    if (!interp && a.given("steps")) throw cli::UsageError("--steps belongs to interpolate");
    if (!fit && (a.given("fit-lr") || a.given("fit-batch")))
      throw cli::UsageError("--fit-lr and --fit-batch belong to `layers --fit N`");
    const int batch = a.int32("batch"), threads = a.loader_threads(), steps = a.int32("steps");
    if (batch <= 0) throw cli::UsageError("--batch must be positive");
    if (steps < 1 || steps > 1000) throw cli::UsageError("--steps must be in [1, 1000]");
    const long long max_images = a.integer("max-images");
    if (max_images < 1 && max_images != -1) throw cli::UsageError("--max-images must be at least 1 (leave it out for all images)");
    FitOptions fo;  // layers --fit: checked now, before the evaluation
    fo.iterations = fit, fo.batch = a.int32("fit-batch"), fo.lr = (float)a.real("fit-lr"), fo.threads = threads;
    if (fo.batch <= 0 || !(fo.lr > 0) || !std::isfinite(fo.lr))
      throw cli::UsageError("--fit-batch and --fit-lr must be positive (--fit-lr at most 3.4e38, a float)");
    const std::string out = a.path("out");
    require_output_folder(out);
    Device dev = parse_device(a.str("device"));

    std::vector<std::string> runs = {pos[1], pos[2]};
    if (interp && a.given("permuted")) runs.push_back(a.str("permuted"));
    Nets n = open_nets(runs, dev, batch);
    if (runs.size() == 3) {  // --permuted must be B permuted (bin/permute records the checkpoint it read)
      const json from = n.cks[2].info.extra.value("permuted_from", json());
      std::error_code ec;
      if (!from.is_string())
        throw InputError(
            runs[2] +
            ": not written by bin/permute (its checkpoint records no permuted_from): --permuted wants B permuted into A's order");
      if (!std::filesystem::equivalent(from.get<std::string>(), n.cks[1].path, ec))  // moved folders may explain it
        log_warning(runs[2] + ": permuted from " + from.get<std::string>() + ", which is not B's checkpoint " + n.cks[1].path);
    }
    std::unique_ptr<Dataset> data =
        open_eval_data(n.cks[0], a.str("data"), a.str("split"), a.str("data-dir"), max_images);
    std::unique_ptr<Dataset> train;  // layers --fit: opened and checked now, before the evaluation
    if (fit) {
      train = open_eval_data(n.cks[0], a.str("data"), "train", a.str("data-dir"), -1);
      if ((size_t)fo.batch > train->size())
        throw InputError("--fit-batch " + std::to_string(fo.batch) + ": more than the " + std::to_string(train->size()) +
                         " images of " + train->describe());
    }
    make_dirs(out);
    json summary = {{"a", n.cks[0].path}, {"b", n.cks[1].path}, {"data", data->describe() + " (" + a.str("split") + ")"}};

    if (interp) {
      std::printf("stitch interpolate: %s -> %s on %s\n", runs[0].c_str(), runs[1].c_str(), data->describe().c_str());
      std::vector<std::vector<CurvePoint>> curves = {
          interpolation_curve(*n.nets[0], *n.nets[1], *n.work, *data, steps, batch, threads)};
      if (runs.size() == 3) curves.push_back(interpolation_curve(*n.nets[0], *n.nets[2], *n.work, *data, steps, batch, threads));
      json t = json::array();
      for (const CurvePoint& p : curves[0]) t.push_back(p.t);
      summary["t"] = t;
      summary["plain"] = curve_json(curves[0]);
      if (curves.size() == 2) summary["permuted_net"] = n.cks[2].path, summary["permuted"] = curve_json(curves[1]);
      std::vector<std::vector<double>> loss, top1;
      for (const auto& c : curves) {
        loss.emplace_back(), top1.emplace_back();
        for (const CurvePoint& p : c) loss.back().push_back(p.loss), top1.back().push_back(p.top1);
      }
      std::printf("%5s %11s %11s", "t", "loss", "accuracy");
      if (curves.size() == 2) std::printf(" %14s %14s", "loss permuted", "acc. permuted");
      std::printf("\n");
      for (size_t k = 0; k < curves[0].size(); ++k) {
        std::printf("%5.2f %11.4f %11.4f", curves[0][k].t, loss[0][k], top1[0][k]);
        if (curves.size() == 2) std::printf(" %14.4f %14.4f", loss[1][k], top1[1][k]);
        std::printf("\n");
      }
      Barrier b0 = barrier_height(curves[0]);
      std::printf("barrier: %.4f at t = %.2f without matching", b0.height, b0.t);
      if (curves.size() == 2) {
        Barrier b1 = barrier_height(curves[1]);
        std::printf(", %.4f at t = %.2f with B permuted into A's order", b1.height, b1.t);
      }
      std::printf("\n");
      write_rows(out + "/interpolate_loss.npy", loss);
      write_rows(out + "/interpolate_top1.npy", top1);
      write_file_atomic(out + "/interpolate.json", summary.dump(1) + "\n");
      std::printf("wrote %s/interpolate.json, interpolate_loss.npy, interpolate_top1.npy\n", out.c_str());
    } else {
      std::printf("stitch layers: %s up to L, then %s, on %s\n", runs[0].c_str(), runs[1].c_str(), data->describe().c_str());
      std::vector<StitchPoint> pts = stitch_curve(*n.nets[0], *n.nets[1], *n.work, *data, batch, threads);
      Net::Metrics ma = evaluate(*n.nets[0], *data, batch, threads), mb = evaluate(*n.nets[1], *data, batch, threads);
      std::vector<double> loss, top1;
      json layers = json::array();
      std::printf("%-8s %9s %9s\n", "A up to", "loss", "accuracy");
      std::printf("%-8s %9.4f %9.4f\n", "(B)", mb.loss_sum / mb.n, (double)mb.top1 / mb.n);
      for (const StitchPoint& p : pts) {
        std::printf("%-8s %9.4f %9.4f\n", p.layer.c_str(), p.loss, p.top1);
        loss.push_back(p.loss), top1.push_back(p.top1), layers.push_back(p.layer);
      }
      std::printf("%-8s %9.4f %9.4f\n", "(A)", ma.loss_sum / ma.n, (double)ma.top1 / ma.n);
      if (fit) {
        std::vector<double> fit_loss, fit_top1;
        std::printf("with a 1x1 stitching layer trained for %d iterations (lr %g, batch %d) on %s:\n%-8s %9s %9s\n", fit, fo.lr,
                    fo.batch, train->describe().c_str(), "A up to", "loss", "accuracy");
        for (const StitchPoint& p : pts) {
          std::unique_ptr<Net> net = fit_stitch(*n.nets[0], *n.nets[1], p.layer, *train, fo);
          Net::Metrics m = evaluate(*net, *data, batch, threads);
          fit_loss.push_back(m.loss_sum / m.n), fit_top1.push_back((double)m.top1 / m.n);
          std::printf("%-8s %9.4f %9.4f\n", p.layer.c_str(), fit_loss.back(), fit_top1.back());
        }
        summary["fit"] = {{"iterations", fit}, {"lr", fo.lr}, {"batch", fo.batch}, {"loss", fit_loss}, {"top1", fit_top1}};
        write_npy(out + "/layers_fit_loss.npy", fit_loss.data(), {fit_loss.size()});
        write_npy(out + "/layers_fit_top1.npy", fit_top1.data(), {fit_top1.size()});
      } else {  // an earlier --fit run's curves would pass for this run's
        for (const char* f : {"/layers_fit_loss.npy", "/layers_fit_top1.npy"}) std::remove((out + f).c_str());
      }
      summary["layers"] = layers;
      summary["loss"] = loss;
      summary["top1"] = top1;
      summary["a_alone"] = {{"loss", ma.loss_sum / ma.n}, {"top1", (double)ma.top1 / ma.n}};
      summary["b_alone"] = {{"loss", mb.loss_sum / mb.n}, {"top1", (double)mb.top1 / mb.n}};
      write_npy(out + "/layers_loss.npy", loss.data(), {loss.size()});
      write_npy(out + "/layers_top1.npy", top1.data(), {top1.size()});
      write_file_atomic(out + "/layers.json", summary.dump(1) + "\n");
      std::printf("wrote %s/layers.json, layers_loss.npy, layers_top1.npy\n", out.c_str());
    }
    return 0;
  });
}
