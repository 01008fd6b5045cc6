// bin/visualize: what matched units respond to. For a layer of two nets: each unit's top-k images
// (one pass over the data on the device), their receptive-field patches, and the deconvnet
// projections of those activations; PNG figures in the paper's layout plus a JSON sidecar.
#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "analysis/plot/font.h"
#include "analysis/stats/correlate_io.h"
#include "analysis/vis/unit_pairs.h"
#include "data/dataset.h"
#include "kernels/stats.h"
#include "nn/run.h"
#include "base/io.h"
#include "base/cli.h"
#include "base/progress.h"

using namespace cvg;
using nlohmann::json;

namespace {

// A run replaces the files of its mode in each layer's folder OUT/<layer> as a whole: a figure of an
// earlier run left beside the new vis_<mode>.json would pass for this run's (bin/report shows what
// the sidecar lists). The folder must be absent, empty or ours; other modes' files stay.
bool looks_like_vis_layer(const std::string& dir) {
  for (const char* mode : {"deconv", "guided", "gradient"})
    if (file_exists(dir + "/vis_" + mode + ".json")) return true;
  return false;
}
const OutputOwner kVisLayerOwner{"bin/visualize layer", looks_like_vis_layer};

// Copies into `partial` the files of `dir` (if it exists) that are not of `mode`: vis_<other>.json
// and *_<other>.png.
void keep_other_modes(const std::string& dir, const std::string& partial, const std::string& mode) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  const std::string png = "_" + mode + ".png";
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    const bool mine = name == "vis_" + mode + ".json" ||
                      (name.size() > png.size() && name.compare(name.size() - png.size(), png.size(), png) == 0);
    if (!mine && e.is_regular_file()) fs::copy_file(e.path(), partial + "/" + name);
  }
}

std::vector<int> parse_int_list(const std::string& s, const char* flag) {
  std::vector<int> out;
  for (const std::string& tok : cli::list_items(flag, s)) {
    if (tok.find_first_not_of("0123456789") != std::string::npos || tok.size() > 9)
      throw cli::UsageError(std::string("--") + flag + " expects comma-separated unit indices, got '" + s + "'");
    out.push_back(std::stoi(tok));
  }
  if (out.empty()) throw cli::UsageError(std::string("--") + flag + " is empty");
  return out;
}

// "5:39,7:2" -> {(5, 39), (7, 2)}
std::vector<std::pair<int, int>> parse_pairs(const std::string& s) {
  std::vector<std::pair<int, int>> out;
  for (const std::string& tok : cli::list_items("pairs", s)) {
    const size_t colon = tok.find(':');
    const std::string a = tok.substr(0, colon), b = colon == std::string::npos ? "" : tok.substr(colon + 1);
    auto ok = [](const std::string& x) {
      return !x.empty() && x.size() <= 9 && x.find_first_not_of("0123456789") == std::string::npos;
    };
    if (!ok(a) || !ok(b)) throw cli::UsageError("--pairs expects UNIT_A:UNIT_B,... (e.g. 5:39,7:2), got '" + s + "'");
    out.push_back({std::stoi(a), std::stoi(b)});
  }
  if (out.empty()) throw cli::UsageError("--pairs is empty");
  return out;
}

// What to draw, from the flags (everything but the runs, layers and data).
VisRequest parse_request(const cli::Args& args) {
  VisRequest req;
  req.mode = parse_projection_mode(args.str("mode"));
  req.k = args.int32("k");
  if (req.k < 1 || req.k > kStatsMaxTopK) throw cli::UsageError("--k must be 1.." + std::to_string(kStatsMaxTopK));
  const long long best_n = args.integer("best"), worst_n = args.integer("worst");
  if (best_n < 0 || worst_n < 0) throw cli::UsageError("--best and --worst must be >= 0");
  req.best = (size_t)best_n, req.worst = (size_t)worst_n;
  const bool want_units = args.given("units");
  req.want_chosen = args.given("pairs");
  req.best_worst = (!want_units && !req.want_chosen) || args.given("best") || args.given("worst");
  if (!want_units && !req.want_chosen && best_n == 0 && worst_n == 0)
    throw cli::UsageError("nothing to draw: --best 0 and --worst 0 without --units or --pairs");
  if (req.want_chosen) req.chosen = parse_pairs(args.str("pairs"));
  const std::string which = args.str("net");
  if (which != "a" && which != "b") throw cli::UsageError("--net must be a or b");
  if (args.given("net") && !want_units) throw cli::UsageError("--net says which net --units refers to: give --units too");
  req.units_side = which == "a" ? 0 : 1;
  if (want_units) req.units = parse_int_list(args.str("units"), "units");
  return req;
}

struct NetSide {
  std::string run, ckpt_path;
  Checkpoint ck;
  std::unique_ptr<Net> net;
};

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("visualize RUN_A RUN_B --layers L[,L2...] [options]",
                   "Shows what the units of a layer of two nets respond to. One pass over the data finds, for every\n"
                   "unit, the k images that excite it most (each image once, at its strongest position). Each\n"
                   "activation is cropped to the unit's receptive field (zero-filled past the border: black) and\n"
                   "projected back to pixel space (--mode deconv: Zeiler & Fergus's deconvnet, LRN skipped; guided:\n"
                   "guided backpropagation; gradient: the plain gradient), shown around mid grey, scaled per patch.\n"
                   "RUN_A/RUN_B: run folders (newest checkpoint) or checkpoint files of nets with the same input whose\n"
                   "shown layers have the same spatial size and receptive field (widths may differ). The matched\n"
                   "pairs come from --correlate-dir, which must hold both nets (recognised by their weights, in either\n"
                   "order: A's units are always the rows). Figures (OUT/<layer>/):\n"
                   "best_<mode>.png and worst_<mode>.png, one column per matched pair (--pairs: pairs_<mode>.png), net\n"
                   "A's unit above net B's, each a grid of its top patches above the grid of their projections; with\n"
                   "--units, unit_<a|b><u>_<mode>.png per unit. Units are numbered from 0. vis_<mode>.json lists the\n"
                   "pairs, correlations, image ids, positions and activations. Several layers (--layers conv1,conv3)\n"
                   "share one pass over the data. A run replaces its mode's files in each layer's folder (another\n"
                   "--out keeps an earlier run's). Every file and JSON key: docs/OUTPUTS.md.\n"
                   "Exit codes: 0 ok, 1 failure, 2 bad input.");
    args.opt("layers", "", "the layer(s) to show: conv or fc layers, comma-separated (e.g. conv3 or conv1,conv2)")
        .opt("correlate-dir", "runs/correlate", "bin/correlate's output folder")
        .opt("data", "", "dataset spec (default: the one net A was trained on)")
        .opt("data-dir", "", "folder of the fashion-mnist IDX files")
        .opt("split", "test", "train | test")
        .opt("max-images", "", "use only the first N images of the split (default: all)")
        .opt("best", "8", "best matched pairs to show")
        .opt("worst", "8", "worst matched pairs to show")
        .opt("pairs", "", "specific pairs to show, UNIT_A:UNIT_B comma-separated (e.g. 5:39,7:2)")
        .opt("units", "", "comma-separated units to show one PNG each (of the net --net)")
        .opt("net", "a", "which net --units refers to: a | b")
        .opt("mode", "deconv", "deconv | guided | gradient")
        .opt("k", "9", "top images per unit (1..32)")
        .opt("out", "runs/vis", "output folder")
        .opt("device", "auto", "cpu | cuda | cuda:N | auto")
        .opt("batch", "64", "images per forward pass")
        .opt("threads", "2", "data-loading threads")
        .alias("layer", "layers")
        .alias("limit", "max-images");
    if (!args.parse(argc, argv)) return 0;
    if (args.positional().size() != 2) throw cli::UsageError("expected two runs RUN_A RUN_B (see --help)");
    const std::vector<std::string> layer_names = args.list("layers");
    const std::string out = args.path("out");
    require_output_folder(out);
    const int loader_threads = args.loader_threads();
    if (layer_names.empty()) throw cli::UsageError("--layers is required (e.g. --layers conv3)");
    for (const std::string& layer : layer_names) check_replaceable_output(out + "/" + layer, kVisLayerOwner);
    const VisRequest req = parse_request(args);
    plot::load_font();  // the figures' labels: a missing font fails now, not after the pass
    const int batch = args.int32("batch");
    if (batch < 1) throw cli::UsageError("--batch must be positive");
    long long limit = 0;
    if (args.given("max-images") && (limit = args.integer("max-images")) < 1)
      throw cli::UsageError("--max-images must be at least 1 (leave it out for all images)");

    NetSide sides[2];
    for (int i = 0; i < 2; ++i) {
      sides[i].run = args.positional()[i];
      sides[i].ck = open_run(sides[i].run);
      sides[i].ckpt_path = sides[i].ck.path;
    }
    const NetConfig& cfg = sides[0].ck.config;
    const std::string spec = run_data_spec(sides[0].ck, args.str("data"));
    std::unique_ptr<Dataset> data = open_run_data(sides[0].ck, spec, args.str("split"), args.str("data-dir"));
    const Device dev = parse_device(args.str("device"));
    for (NetSide& side : sides) side.net = side.ck.make_net(dev, batch);
    const std::array<Net*, 2> nets = {sides[0].net.get(), sides[1].net.get()};
    comparable_layers({nets[0], nets[1]}, layer_names, {sides[0].run, sides[1].run});

    // Which nets of the correlate output these are (by their weights), before the long pass.
    CorrelateOutput corr;
    int net_p = 0, net_q = 1;
    if (req.needs_correlate()) {
      corr = open_correlate_output(args.str("correlate-dir"));
      net_p = corr.find_net(sides[0].ck, sides[0].run);
      net_q = corr.find_net(sides[1].ck, sides[1].run);
      if (net_p == net_q) throw InputError("RUN_A and RUN_B are the same net (" + describe(corr.nets[net_p]) + ")");
      std::printf("A = %s, B = %s (nets %d and %d of %s)\n", corr.nets[net_p].name.c_str(), corr.nets[net_q].name.c_str(), net_p,
                  net_q, corr.dir.c_str());
    }

    std::vector<VisLayer> plans;
    for (const std::string& layer : layer_names)
      plans.push_back(plan_layer(layer, nets, req.needs_correlate() ? &corr : nullptr, net_p, net_q, req));

    // The pass: top-k of every unit of every layer of both nets, on the device.
    const size_t total = limit > 0 ? std::min<size_t>(limit, data->size()) : data->size();
    std::printf("%s: %s; layers %s; top %d of %zu images on %s\n", cfg.name.c_str(), data->describe().c_str(),
                args.str("layers").c_str(), req.k, total, dev.name().c_str());
    std::fflush(stdout);  // before the progress bar on stderr
    Progress bar("top-" + std::to_string(req.k) + " pass", (long long)((total + batch - 1) / batch), "img");
    const std::vector<std::vector<TopTable>> tops = topk_pass(
        {nets[0], nets[1]}, layer_names, *data, req.k, total,
        [&](long long done, long long) { bar.update(done, (double)std::min<size_t>(done * batch, total)); },
        loader_threads);

    json side_json[2];
    for (int i = 0; i < 2; ++i)
      side_json[i] = {
          {"name", req.needs_correlate() ? corr.nets[i ? net_q : net_p].name : net_record(sides[i].ck, sides[i].run, i).name},
          {"run", sides[i].run},
          {"checkpoint", sides[i].ckpt_path},
          {"seed", sides[i].ck.info.seed},
          {"iteration", sides[i].ck.info.iteration},
          {"correlate_index", req.needs_correlate() ? json(i ? net_q : net_p) : json(nullptr)}};
    const std::array<std::string, 2> names = {side_json[0]["name"].get<std::string>(), side_json[1]["name"].get<std::string>()};
    // Every layer into a partial folder first (with the folder's files of other modes), then each put
    // in place of OUT/<layer>: an error leaves OUT as it was.
    std::vector<std::string> partials;
    std::vector<std::string> wrote;  // the lines to print once published
    try {
      for (size_t li = 0; li < plans.size(); ++li) {
        const VisLayer& L = plans[li];
        VisLayerResult r = draw_layer(L, nets, {&tops[0][li], &tops[1][li]}, *data, req, names);
        json& doc = r.doc;
        doc["net"] = cfg.name, doc["net_a"] = side_json[0], doc["net_b"] = side_json[1];
        doc["data"] = spec, doc["split"] = args.str("split"), doc["images"] = total;
        if (req.needs_correlate()) doc["correlate_dir"] = corr.dir;
        const std::string dir = out + "/" + L.name;
        partials.push_back(partial_output_dir(dir));
        for (const VisFigure& f : r.figures) {
          write_png(partials.back() + "/" + f.file, f.image);
          wrote.push_back("wrote " + dir + "/" + f.file + f.note);
        }
        if (r.figures.empty())  // best/worst of a layer without a matched pair of live units
          wrote.push_back(dir + ": no figure (no matched pair: a net has no unit that varies in this layer)");
        const std::string mode = projection_mode_name(req.mode);
        write_file_atomic(partials.back() + "/vis_" + mode + ".json", doc.dump(1) + "\n");
        wrote.push_back("wrote " + dir + "/vis_" + mode + ".json");
        keep_other_modes(dir, partials.back(), mode);
      }
      for (size_t li = 0; li < plans.size(); ++li) publish_output(partials[li], out + "/" + plans[li].name, kVisLayerOwner);
    } catch (...) {
      for (const std::string& p : partials) remove_tree(p);
      throw;
    }
    for (const std::string& w : wrote) std::printf("%s\n", w.c_str());
    return 0;
  });
}
