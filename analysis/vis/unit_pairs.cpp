#include "analysis/vis/unit_pairs.h"

#include <algorithm>
#include <cstdio>

#include "analysis/vis/receptive_field.h"
#include "base/cli.h"
#include "nn/net.h"

namespace cvg {

using json = nlohmann::json;

VisLayer plan_layer(const std::string& layer, const std::array<Net*, 2>& nets, const CorrelateOutput* corr, int p, int q,
                    const VisRequest& req) {
  const ReceptiveField ra = receptive_field(*nets[0], layer), rb = receptive_field(*nets[1], layer);
  if (ra.size != rb.size || ra.jump != rb.jump || ra.offset != rb.offset || ra.whole_input != rb.whole_input ||
      ra.exact != rb.exact)
    throw InputError("layer " + layer + ": the nets' units see different input windows (receptive field size " +
                     std::to_string(ra.size) + ", step " + std::to_string(ra.jump) + " vs " + std::to_string(rb.size) +
                     ", step " + std::to_string(rb.jump) + "), so their patches cannot be shown side by side");
  VisLayer L;
  L.name = layer;
  const int units_a = nets[0]->units(layer).dim(1), units_b = nets[1]->units(layer).dim(1);
  L.units[0] = units_a, L.units[1] = units_b;
  if (req.needs_correlate() && !corr) throw std::logic_error("plan_layer: the request needs bin/correlate's output");
  if (req.best_worst) {
    const std::vector<MatchedPair> pairs = read_matched_pairs(*corr, layer, p, q, units_a, units_b);
    L.matched = pairs.size();
    L.best.assign(pairs.begin(), pairs.begin() + std::min(req.best, pairs.size()));
    L.worst.assign(pairs.rbegin(), pairs.rbegin() + std::min(req.worst, pairs.size()));  // worst first
  }
  if (req.want_chosen) L.chosen = chosen_pairs(*corr, layer, p, q, units_a, units_b, req.chosen);
  const int side_units = L.units[req.units_side];
  for (int u : req.units)
    if (u >= side_units)
      throw cli::UsageError("--units: unit " + std::to_string(u) + " out of range: " + layer + " has " +
                            std::to_string(side_units) + " units");
  for (const auto* list : {&L.best, &L.worst, &L.chosen})
    for (const MatchedPair& m : *list) L.need[0].insert(m.a), L.need[1].insert(m.b);
  for (int u : req.units) L.need[req.units_side].insert(u);
  return L;
}

namespace {

// A unit whose top activations are all one value (a dead ReLU unit: 0 everywhere) has no top images,
// only ties broken by image id: it is drawn empty and labelled, not with arbitrary patches.
bool constant_unit(const TopTable& top, int u) {
  bool any = false;
  float first = 0;
  for (const TopEntry& e : top[u]) {
    if (e.image < 0) continue;
    if (any && e.value != first) return false;
    any = true, first = e.value;
  }
  return any;
}

// Renders the patches and projections of `units` of one net from its top-k table.
std::map<int, UnitView> render_units(Net& net, const TopTable& top, const std::set<int>& units, const std::string& layer,
                                     const Dataset& data, ProjectionMode mode, const ReceptiveField& rf) {
  std::map<int, UnitView> views;
  const ImageShape s = data.shape();
  const Normalisation norm = data.normalisation();
  const std::vector<float> fill = black_fill(norm, s.c);
  std::vector<UnitAt> at;
  std::vector<int> owner;  // request -> unit
  std::vector<float> images;
  for (int u : units) {
    if (constant_unit(top, u)) continue;
    for (const TopEntry& e : top[u]) {
      if (e.image < 0) continue;
      at.push_back({u, e.y, e.x});
      owner.push_back(u);
      images.resize(images.size() + s.size());
      data.load((size_t)e.image, images.data() + images.size() - s.size(), false, 0);
    }
  }
  for (int u : units) views[u];  // units with no images still get (empty) views
  if (at.empty()) return views;
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
  return views;
}

json unit_json(const TopTable& top, int u) {
  json images = json::array(), pos = json::array(), vals = json::array();
  for (const TopEntry& e : top[u]) {
    if (e.image < 0) continue;
    images.push_back(e.image), pos.push_back({e.y, e.x}), vals.push_back(e.value);
  }
  return json{{"unit", u}, {"images", images}, {"positions", pos}, {"activations", vals}, {"constant", constant_unit(top, u)}};
}

}  // namespace

VisLayerResult draw_layer(const VisLayer& L, const std::array<Net*, 2>& nets, const std::array<const TopTable*, 2>& top,
                          const Dataset& data, const VisRequest& req, const std::array<std::string, 2>& names) {
  const ReceptiveField rf = receptive_field(*nets[0], L.name);
  const Window w0 = rf.window(0, 0);
  const int scale = display_scale(std::max(w0.h, w0.w));
  std::map<int, UnitView> views[2];
  for (int i = 0; i < 2; ++i) views[i] = render_units(*nets[i], *top[i], L.need[i], L.name, data, req.mode, rf);

  const std::string m = projection_mode_name(req.mode);
  VisLayerResult out;
  out.doc = {{"layer", L.name},
             {"units", {L.units[0], L.units[1]}},
             {"mode", m},
             {"k", req.k},
             {"receptive_field",
              {{"size", rf.whole_input ? std::max(w0.h, w0.w) : rf.size},
               {"jump", rf.jump},
               {"offset", rf.offset},
               {"whole_input", rf.whole_input},
               {"exact", rf.exact}}},
             {"display_scale", scale},
             {"layout",
              "pair figures: one column per pair, left to right in the listed order; in each column net A's "
              "unit above net B's (split by a grey rule); each unit: its top patches (row-major, best first) "
              "above their projections in the same order. Patches are zero-filled (black) past the image "
              "border; projections are scaled per patch, mid grey = 0. Labels: the title, the nets' names along "
              "the left edge, above each column its rank among all matched pairs (best first) and correlation, "
              "above each block its unit."}};
  auto pairs_json = [&](const std::vector<MatchedPair>& list) {
    json arr = json::array();
    for (size_t r = 0; r < list.size(); ++r)
      arr.push_back({{"rank", r},
                     {"unit_a", list[r].a},
                     {"unit_b", list[r].b},
                     {"correlation", list[r].correlation},
                     {"a", unit_json(*top[0], list[r].a)},
                     {"b", unit_json(*top[1], list[r].b)}});
    return arr;
  };
  // Labels: the nets along the left edge, each column's rank among all matched pairs (best = 1) and
  // correlation, each block's unit.
  auto pairs_figure_of = [&](const std::vector<MatchedPair>& list, const std::string& name, bool worst_first) {
    std::vector<std::pair<UnitView, UnitView>> cols;
    PairFigureLabels labels;
    labels.title = L.name + ": " + (name == "pairs" ? "chosen pairs" : name + " matched pairs") + " (" + m + "); units from 0";
    labels.row_a = "A: " + names[0], labels.row_b = "B: " + names[1];
    for (size_t i = 0; i < list.size(); ++i) {
      const MatchedPair& p = list[i];
      cols.emplace_back(views[0].at(p.a), views[1].at(p.b));
      const bool ca = constant_unit(*top[0], p.a), cb = constant_unit(*top[1], p.b);
      char buf[96];
      if (ca || cb)  // a constant unit's correlation is undefined (bin/correlate writes 0)
        std::snprintf(buf, sizeof buf, "r undefined");
      else if (name == "pairs")
        std::snprintf(buf, sizeof buf, "r = %.3f", p.correlation);
      else
        std::snprintf(buf, sizeof buf, "#%zu of %zu\nr = %.3f", worst_first ? L.matched - i : i + 1, L.matched, p.correlation);
      labels.pairs.push_back({buf, "A: unit " + std::to_string(p.a) + (ca ? " (constant)" : ""),
                              "B: unit " + std::to_string(p.b) + (cb ? " (constant)" : "")});
    }
    char note[96];
    std::snprintf(note, sizeof note, " (%zu pairs, correlation %.3f .. %.3f)", list.size(),
                  list.empty() ? 0.0 : list.front().correlation, list.empty() ? 0.0 : list.back().correlation);
    out.figures.push_back({name + "_" + m + ".png", pairs_figure(cols, req.k, scale, labels), note});
  };
  if (req.best_worst) {
    out.doc["best"] = pairs_json(L.best), out.doc["worst"] = pairs_json(L.worst);
    out.doc["matched_pairs"] = L.matched;
    if (!L.best.empty()) pairs_figure_of(L.best, "best", false);
    if (!L.worst.empty()) pairs_figure_of(L.worst, "worst", true);
  }
  if (req.want_chosen) {
    out.doc["chosen"] = pairs_json(L.chosen);
    pairs_figure_of(L.chosen, "pairs", false);
  }
  if (!req.units.empty()) {
    const int side = req.units_side;
    const std::string which = side ? "b" : "a";
    json arr = json::array();
    for (int u : req.units) {
      out.figures.push_back(
          {"unit_" + which + std::to_string(u) + "_" + m + ".png",
           with_caption(unit_block(views[side].at(u), req.k, scale),
                        L.name + ", " + (side ? "B: " : "A: ") + names[side] + ", unit " + std::to_string(u) + " (" + m + ")" +
                            (constant_unit(*top[side], u) ? ": constant, no image activates it more than another" : "")),
           ""});
      json j = unit_json(*top[side], u);
      j["net"] = which;
      arr.push_back(j);
    }
    out.doc["shown_units"] = arr;
  }
  return out;
}

}  // namespace cvg
