// bin/visualize: what matched units respond to. For a layer of two nets: each unit's top-k images
// (one pass over the data on the device), their receptive-field patches, and the deconvnet
// projections of those activations; PNG figures in the paper's layout plus a JSON sidecar.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/stats/correlate_io.h"
#include "analysis/vis/deconv.h"
#include "analysis/match/matched_pairs.h"
#include "analysis/vis/receptive_field.h"
#include "analysis/stats/topk.h"
#include "analysis/vis/figure.h"
#include "data/dataset.h"
#include "kernels/stats.h"
#include "nn/checkpoint.h"
#include "base/io.h"
#include "base/cli.h"
#include "base/progress.h"

using namespace cvg;
using nlohmann::json;

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A run folder (its newest intact checkpoint) or a checkpoint file.
Checkpoint open_checkpoint(const std::string& run) {
  if (!is_dir(run)) return read_checkpoint(run);
  Checkpoint ck;
  if (!read_newest_checkpoint(run, &ck)) throw InputError(run + ": no intact checkpoint (ckpt-*.bin) in this run folder");
  return ck;
}

// The nets must be the same architecture on the same input for their units to be compared; their
// widths (units per layer) may differ.
void check_same_architecture(const Checkpoint& a, const Checkpoint& b) {
  auto fail = [&](const std::string& what) {
    throw InputError("nets differ: " + a.path + " vs " + b.path + ": " + what);
  };
  if (a.input != b.input) fail("input shapes differ");
  if (a.classes != b.classes) fail("numbers of classes differ");
  const auto &la = a.config.layers, &lb = b.config.layers;
  if (la.size() != lb.size()) fail(std::to_string(la.size()) + " vs " + std::to_string(lb.size()) + " layers");
  for (size_t i = 0; i < la.size(); ++i) {
    const LayerConfig &x = la[i], &y = lb[i];
    if (x.name != y.name || x.type != y.type || x.kernel_size != y.kernel_size ||
        x.stride != y.stride || x.pad != y.pad || x.group != y.group)
      fail("layer " + std::to_string(i) + " (" + x.name + " " + x.type + " vs " + y.name + " " + y.type + ") differs");
  }
}

std::vector<int> parse_int_list(const std::string& s, const char* flag) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.empty() || tok.find_first_not_of("0123456789") != std::string::npos || tok.size() > 9)
      throw cli::UsageError(std::string("--") + flag + " expects comma-separated unit indices, got '" + s + "'");
    out.push_back(std::stoi(tok));
  }
  if (out.empty()) throw cli::UsageError(std::string("--") + flag + " is empty");
  return out;
}

// "5:39,7:2" -> {(5, 39), (7, 2)}
std::vector<std::pair<int, int>> parse_pairs(const std::string& s) {
  std::vector<std::pair<int, int>> out;
  for (const std::string& tok : cli::split_list(s)) {
    const size_t colon = tok.find(':');
    const std::string a = tok.substr(0, colon), b = colon == std::string::npos ? "" : tok.substr(colon + 1);
    auto ok = [](const std::string& x) { return !x.empty() && x.size() <= 9 && x.find_first_not_of("0123456789") == std::string::npos; };
    if (!ok(a) || !ok(b)) throw cli::UsageError("--pairs expects UNIT_A:UNIT_B,... (e.g. 5:39,7:2), got '" + s + "'");
    out.push_back({std::stoi(a), std::stoi(b)});
  }
  if (out.empty()) throw cli::UsageError("--pairs is empty");
  return out;
}

struct NetSide {
  std::string run, ckpt_path;
  Checkpoint ck;
  std::unique_ptr<Net> net;
};

// One layer to show: what to show, and (after the pass) each net's tables and rendered units.
struct LayerPlan {
  std::string name;
  int units[2] = {0, 0};
  std::vector<MatchedPair> best, worst, chosen;
  std::set<int> need[2];
  TopTable top[2];
  std::map<int, UnitView> views[2];  // unit -> its rendered patches and projections
};

// Renders the patches and projections of `units` of one net from its top-k table.
void render_units(Net& net, const TopTable& top, const std::set<int>& units, const std::string& layer,
                  const Dataset& data, ProjectionMode mode, const ReceptiveField& rf, std::map<int, UnitView>& views) {
  const ImageShape s = data.shape();
  const Normalisation norm = data.normalisation();
  const std::vector<float> fill = black_fill(norm, s.c);
  std::vector<UnitAt> at;
  std::vector<int> owner;  // request -> unit
  std::vector<float> images;
  for (int u : units)
    for (const TopEntry& e : top[u]) {
      if (e.image < 0) continue;
      at.push_back({u, e.y, e.x});
      owner.push_back(u);
      images.resize(images.size() + s.size());
      data.load((size_t)e.image, images.data() + images.size() - s.size(), false, 0);
    }
  for (int u : units) views[u];  // units with no images still get (empty) views
  if (at.empty()) return;
  Projector proj(net, layer);
  std::vector<float> p = proj.project(images.data(), at, mode);
  for (size_t r = 0; r < at.size(); ++r) {
    const Window win = rf.window(at[r].y, at[r].x);
    std::vector<float> patch = crop(images.data() + r * s.size(), s.c, s.h, s.w, win, fill.data());
    std::vector<float> back = crop(p.data() + r * s.size(), s.c, s.h, s.w, win);
    UnitView& v = views[owner[r]];
    v.patches.push_back(render_input(patch.data(), s.c, win.h, win.w, norm));
    v.projections.push_back(render_projection(back.data(), s.c, win.h, win.w));
  }
}

json unit_json(const TopTable& top, int u) {
  json images = json::array(), pos = json::array(), vals = json::array();
  for (const TopEntry& e : top[u]) {
    if (e.image < 0) continue;
    images.push_back(e.image), pos.push_back({e.y, e.x}), vals.push_back(e.value);
  }
  return json{{"unit", u}, {"images", images}, {"positions", pos}, {"activations", vals}};
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args(
        "visualize RUN_A RUN_B --layers L[,L2...] [options]",
        "Shows what the units of a layer of two nets respond to. One pass over the data finds, for every\n"
        "unit, the k images that excite it most (each image once, at its strongest position). Each\n"
        "activation is cropped to the unit's receptive field (zero-filled past the border: black) and\n"
        "projected back to pixel space (--mode deconv: Zeiler & Fergus's deconvnet, LRN skipped; guided:\n"
        "guided backpropagation; gradient: the plain gradient), shown around mid grey, scaled per patch.\n"
        "RUN_A/RUN_B: run folders (newest checkpoint) or checkpoint files of the same architecture (widths\n"
        "may differ). The matched pairs come from --correlate-dir, which must hold both nets (recognised by\n"
        "their weights, in either order: A's units are always the rows). Figures (OUT/<layer>/):\n"
        "best_<mode>.png and worst_<mode>.png, one column per matched pair (--pairs: pairs_<mode>.png), net\n"
        "A's unit above net B's, each a grid of its top patches above the grid of their projections; with\n"
        "--units, unit_<a|b><u>_<mode>.png per unit. Units are numbered from 0. vis_<mode>.json lists the\n"
        "pairs, correlations, image ids, positions and activations. Several layers (--layers conv1,conv3)\n"
        "share one pass over the data. Every file and JSON key: docs/OUTPUTS.md.\n"
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
    const std::vector<std::string> layer_names = cli::split_list(args.str("layers"));
    if (layer_names.empty()) throw cli::UsageError("--layers is required (e.g. --layers conv3)");
    const ProjectionMode mode = parse_projection_mode(args.str("mode"));
    const int k = (int)args.integer("k");
    if (k < 1 || k > kStatsMaxTopK) throw cli::UsageError("--k must be 1.." + std::to_string(kStatsMaxTopK));
    const int batch = (int)args.integer("batch");
    if (batch < 1) throw cli::UsageError("--batch must be positive");
    const long long best_n = args.integer("best"), worst_n = args.integer("worst");
    if (best_n < 0 || worst_n < 0) throw cli::UsageError("--best and --worst must be >= 0");
    long long limit = 0;
    if (args.given("max-images") && (limit = args.integer("max-images")) < 1)
      throw cli::UsageError("--max-images must be at least 1 (leave it out for all images)");
    const bool want_units = args.given("units"), want_chosen = args.given("pairs");
    const bool want_pairs = (!want_units && !want_chosen) || args.given("best") || args.given("worst");
    if (!want_units && !want_chosen && best_n == 0 && worst_n == 0)
      throw cli::UsageError("nothing to draw: --best 0 and --worst 0 without --units or --pairs");
    const std::vector<std::pair<int, int>> chosen = want_chosen ? parse_pairs(args.str("pairs")) : std::vector<std::pair<int, int>>{};
    const std::string which = args.str("net");
    if (which != "a" && which != "b") throw cli::UsageError("--net must be a or b");
    const int side_of_units = which == "a" ? 0 : 1;
    const std::vector<int> units = want_units ? parse_int_list(args.str("units"), "units") : std::vector<int>{};

    NetSide sides[2];
    for (int i = 0; i < 2; ++i) {
      sides[i].run = args.positional()[i];
      sides[i].ck = open_checkpoint(sides[i].run);
      sides[i].ckpt_path = sides[i].ck.path;
    }
    check_same_architecture(sides[0].ck, sides[1].ck);
    const NetConfig& cfg = sides[0].ck.config;
    std::string unit_layers;
    for (const LayerConfig& l : cfg.layers)
      if (l.has_params()) unit_layers += (unit_layers.empty() ? "" : ", ") + l.name;
    for (const std::string& layer : layer_names) {
      auto it = std::find_if(cfg.layers.begin(), cfg.layers.end(), [&](const LayerConfig& l) { return l.name == layer; });
      if (it == cfg.layers.end())
        throw InputError(sides[0].ckpt_path + ": net " + cfg.name + " has no layer '" + layer + "' (its unit layers: " + unit_layers + ")");
      if (!it->has_params())
        throw InputError(sides[0].ckpt_path + ": layer " + layer + " is a " + it->type + " layer; units live in conv and fc layers (" + unit_layers + ")");
    }

    std::string spec = args.str("data");
    if (spec.empty()) spec = sides[0].ck.info.data_spec.empty() ? "fashion-mnist" : sides[0].ck.info.data_spec;
    std::unique_ptr<Dataset> data = open_dataset(spec, args.str("split"), args.str("data-dir"));
    const ImageShape s = data->shape();
    const std::vector<int>& in = sides[0].ck.input;
    if (in != std::vector<int>{s.c, s.h, s.w})
      throw InputError(spec + ": images are " + std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w) +
                       " but the nets take " + std::to_string(in[0]) + "x" + std::to_string(in[1]) + "x" + std::to_string(in[2]));

    const Device dev = parse_device(args.str("device"));
    for (NetSide& side : sides) side.net = side.ck.make_net(dev, batch);

    // Which nets of the correlate output these are (by their weights), before the long pass.
    CorrelateOutput corr;
    int net_p = 0, net_q = 1;
    if (want_pairs || want_chosen) {
      corr = open_correlate_output(args.str("correlate-dir"));
      net_p = corr.find_net(sides[0].ck, sides[0].run);
      net_q = corr.find_net(sides[1].ck, sides[1].run);
      if (net_p == net_q) throw InputError("RUN_A and RUN_B are the same net (" + describe(corr.nets[net_p]) + ")");
      std::printf("A = %s, B = %s (nets %d and %d of %s)\n", corr.nets[net_p].name.c_str(), corr.nets[net_q].name.c_str(),
                  net_p, net_q, corr.dir.c_str());
    }

    // What to show, per layer: the pairs (read before the long pass so a missing file fails fast)
    // and the units.
    std::vector<LayerPlan> plans(layer_names.size());
    for (size_t li = 0; li < plans.size(); ++li) {
      LayerPlan& L = plans[li];
      L.name = layer_names[li];
      for (int i = 0; i < 2; ++i) L.units[i] = sides[i].net->units(L.name).dim(1);
      if (want_pairs) {
        std::vector<MatchedPair> pairs = read_matched_pairs(corr, L.name, net_p, net_q, L.units[0], L.units[1]);
        L.best.assign(pairs.begin(), pairs.begin() + std::min<size_t>(best_n, pairs.size()));
        L.worst.assign(pairs.rbegin(), pairs.rbegin() + std::min<size_t>(worst_n, pairs.size()));  // worst first
      }
      if (want_chosen) L.chosen = chosen_pairs(corr, L.name, net_p, net_q, L.units[0], L.units[1], chosen);
      for (int u : units)
        if (u >= L.units[side_of_units])
          throw cli::UsageError("--units: unit " + std::to_string(u) + " out of range: " + L.name + " has " +
                                std::to_string(L.units[side_of_units]) + " units");
      for (const auto* list : {&L.best, &L.worst, &L.chosen})
        for (const MatchedPair& p : *list) L.need[0].insert(p.a), L.need[1].insert(p.b);
      for (int u : units) L.need[side_of_units].insert(u);
    }

    // The pass: top-k of every unit of every layer of both nets, on the device.
    const size_t total = limit > 0 ? std::min<size_t>(limit, data->size()) : data->size();
    std::printf("%s: %s; layers %s; top %d of %zu images on %s\n", cfg.name.c_str(), data->describe().c_str(),
                args.str("layers").c_str(), k, total, dev.name().c_str());
    std::fflush(stdout);  // before the progress bar on stderr
    Progress bar("top-" + std::to_string(k) + " pass", (long long)((total + batch - 1) / batch), "img");
    std::vector<std::vector<TopTable>> tops = topk_pass(
        {sides[0].net.get(), sides[1].net.get()}, layer_names, *data, k, total,
        [&](long long done, long long) { bar.update(done, (double)std::min<size_t>(done * batch, total)); },
        (int)args.integer("threads"));

    const std::string m = projection_mode_name(mode);
    json side_json[2];
    for (int i = 0; i < 2; ++i)
      side_json[i] = {{"name", (want_pairs || want_chosen) ? corr.nets[i ? net_q : net_p].name : net_record(sides[i].ck, sides[i].run, i).name}, {"run", sides[i].run}, {"checkpoint", sides[i].ckpt_path},
                      {"seed", sides[i].ck.info.seed}, {"iteration", sides[i].ck.info.iteration},
                      {"correlate_index", (want_pairs || want_chosen) ? json(i ? net_q : net_p) : json(nullptr)}};
    for (size_t li = 0; li < plans.size(); ++li) {
      LayerPlan& L = plans[li];
      for (int i = 0; i < 2; ++i) L.top[i] = std::move(tops[i][li]);
      const ReceptiveField rf = receptive_field(cfg, in, L.name);
      const Window w0 = rf.window(0, 0);
      const int scale = display_scale(std::max(w0.h, w0.w));
      for (int i = 0; i < 2; ++i) render_units(*sides[i].net, L.top[i], L.need[i], L.name, *data, mode, rf, L.views[i]);

      const std::string dir = args.str("out") + "/" + L.name;
      make_dirs(dir);
      json doc = {{"layer", L.name},
                  {"units", {L.units[0], L.units[1]}},
                  {"mode", m},
                  {"net", cfg.name},
                  {"net_a", side_json[0]},
                  {"net_b", side_json[1]},
                  {"data", spec},
                  {"split", args.str("split")},
                  {"images", total},
                  {"k", k},
                  {"receptive_field", {{"size", rf.whole_input ? std::max(w0.h, w0.w) : rf.size}, {"jump", rf.jump},
                                       {"offset", rf.offset}, {"whole_input", rf.whole_input}, {"exact", rf.exact}}},
                  {"display_scale", scale},
                  {"layout", "pair figures: one column per pair, left to right in the listed order; in each column net A's "
                             "unit above net B's (split by a grey rule); each unit: its top patches (row-major, best first) "
                             "above their projections in the same order. Patches are zero-filled (black) past the image "
                             "border; projections are scaled per patch, mid grey = 0."}};
      auto pairs_json = [&](const std::vector<MatchedPair>& list) {
        json arr = json::array();
        for (size_t r = 0; r < list.size(); ++r)
          arr.push_back({{"rank", r}, {"unit_a", list[r].a}, {"unit_b", list[r].b}, {"correlation", list[r].correlation},
                         {"a", unit_json(L.top[0], list[r].a)}, {"b", unit_json(L.top[1], list[r].b)}});
        return arr;
      };
      auto write_pairs = [&](const std::vector<MatchedPair>& list, const std::string& name) {
        std::vector<std::pair<UnitView, UnitView>> cols;
        for (const MatchedPair& p : list) cols.emplace_back(L.views[0][p.a], L.views[1][p.b]);
        const std::string path = dir + "/" + name + "_" + m + ".png";
        std::vector<std::string> labels;
        for (const MatchedPair& p : list) {
          char buf[96];
          std::snprintf(buf, sizeof buf, "A %d - B %d\ncorr %.3f", p.a, p.b, p.correlation);
          labels.push_back(buf);
        }
        const std::string title = L.name + " " + name + " (" + m + "): top A = " + side_json[0]["name"].get<std::string>() +
                                  ", bottom B = " + side_json[1]["name"].get<std::string>() + "; units from 0";
        write_png(path, pairs_figure(cols, k, scale, title, labels));
        std::printf("wrote %s (%zu pairs, correlation %.3f .. %.3f)\n", path.c_str(), list.size(),
                    list.empty() ? 0.0 : list.front().correlation, list.empty() ? 0.0 : list.back().correlation);
      };
      if (want_pairs || want_chosen) doc["correlate_dir"] = corr.dir;
      if (want_pairs) {
        doc["best"] = pairs_json(L.best), doc["worst"] = pairs_json(L.worst);
        if (!L.best.empty()) write_pairs(L.best, "best");
        if (!L.worst.empty()) write_pairs(L.worst, "worst");
      }
      if (want_chosen) {
        doc["chosen"] = pairs_json(L.chosen);
        write_pairs(L.chosen, "pairs");
      }
      if (want_units) {
        json arr = json::array();
        for (int u : units) {
          const std::string path = dir + "/unit_" + which + std::to_string(u) + "_" + m + ".png";
          write_png(path, unit_block(L.views[side_of_units][u], k, scale));
          json j = unit_json(L.top[side_of_units], u);
          j["net"] = which;
          arr.push_back(j);
          std::printf("wrote %s\n", path.c_str());
        }
        doc["shown_units"] = arr;
      }
      const std::string jpath = dir + "/vis_" + m + ".json";
      write_file_atomic(jpath, doc.dump(1) + "\n");
      std::printf("wrote %s\n", jpath.c_str());
    }
    return 0;
  });
}
