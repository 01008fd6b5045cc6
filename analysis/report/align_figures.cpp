// bin/align's results: sparse prediction (loss against the L1 penalty), spectral groups (the joint
// correlation matrix sorted by group), and the global similarity scores per layer.
#include <algorithm>
#include <cstdio>

#include "analysis/report/figures.h"
#include "analysis/stats/paper_claims.h"
#include "base/npy.h"

namespace cvg::report {

using json = nlohmann::json;

namespace {

// The align layers to show, or a notice when there is nothing.
const json* align_layers(Page& page, const Study& s, Part part) {
  if (notices(page, s, part)) return nullptr;
  if (s.align.is_null()) return nullptr;
  return &s.align["layers"];
}

// Pair (0, 1)'s entry of an align layer (the pairs are listed p < q, so it comes first).
const json& first_pair(const json& layer) { return layer.at("pairs").at(0); }

// Why bin/align skipped the layer's first pair (a net without a unit that varies there), or "".
std::string skipped(const json& layer) {
  const json& p = first_pair(layer);
  return p.contains("skipped") && p["skipped"].is_string() ? p["skipped"].get<std::string>() : "";
}

void sparse_layer(Page& page, const json& L) {
  const std::string layer = L.at("layer");
  std::vector<std::string> names;
  std::vector<std::vector<double>> loss;  // per direction (every pair), per penalty
  std::vector<double> penalties;
  for (const json& pair : L.at("pairs"))
    for (const json& d : pair.value("sparse_prediction", json::array())) {
      names.push_back(d.value("direction", "?"));
      std::vector<double> l, p;
      for (const json& e : d.at("per_penalty")) p.push_back(number(e, "penalty")), l.push_back(number(e, "mean_loss"));
      if (loss.empty()) penalties = p;
      if (p != penalties)  // every direction is read at the first one's penalties below
        throw InputError("direction " + names.back() + " lists other penalties than direction " + names[0] +
                         " (damaged summary.json?)");
      loss.push_back(l);
    }
  if (loss.empty()) {
    const std::string why = skipped(L);
    page.paragraph(layer + ": no sparse prediction (" + (why.empty() ? "skipped by bin/align --lasso-max-units" : why) + ").");
    return;
  }
  plot::Chart c;
  c.title = layer + ": sparse prediction loss vs L1 penalty";
  c.x_label = "L1 penalty (log scale; penalty 0 in the table)";
  c.y_label = "loss (1/2 MSE; 0.5 = predicting the mean)";
  c.log_x = true;
  const size_t P = penalties.size();
  plot::Series mean = series("mean over " + std::to_string(loss.size()) + " directions (bars: min-max)");
  for (size_t k = 0; k < P; ++k) {
    if (!(penalties[k] > 0)) continue;
    double sum = 0, lo = 1e300, hi = -1e300;
    for (const auto& l : loss) sum += l[k], lo = std::min(lo, l[k]), hi = std::max(hi, l[k]);
    mean.x.push_back(penalties[k]), mean.y.push_back(sum / loss.size()), mean.lo.push_back(lo), mean.hi.push_back(hi);
  }
  c.series.push_back(mean);
  for (size_t d = 0; d < std::min<size_t>(2, loss.size()); ++d) {
    plot::Series s = series(names[d], plot::SeriesKind::Line);
    s.dashed = true;
    for (size_t k = 0; k < P; ++k)
      if (penalties[k] > 0) s.x.push_back(penalties[k]), s.y.push_back(loss[d][k]);
    c.series.push_back(s);
  }
  const std::map<double, double> paper = paper_sparse_loss(layer);
  plot::Series ps = series("paper (CaffeNet, Net2 <- Net1)", plot::SeriesKind::Markers);
  ps.marker = plot::MarkerShape::Diamond;
  for (const auto& [p, l] : paper)
    if (p > 0) ps.x.push_back(p), ps.y.push_back(l);
  if (!ps.x.empty()) c.series.push_back(ps);
  c.width = 680, c.height = 380;

  Table t{{"penalty", "mean", "min", "max"}, {}};
  for (size_t d = 0; d < std::min<size_t>(2, names.size()); ++d) t.header.push_back(names[d]);
  if (!paper.empty()) t.header.push_back("paper");
  for (size_t k = 0; k < P; ++k) {
    double sum = 0, lo = 1e300, hi = -1e300;
    for (const auto& l : loss) sum += l[k], lo = std::min(lo, l[k]), hi = std::max(hi, l[k]);
    char pen[32];
    std::snprintf(pen, sizeof pen, "%g", penalties[k]);
    std::vector<std::string> row = {pen, num(sum / loss.size()), num(lo), num(hi)};
    for (size_t d = 0; d < std::min<size_t>(2, loss.size()); ++d) row.push_back(num(loss[d][k]));
    if (!paper.empty()) {
      auto it =
          std::find_if(paper.begin(), paper.end(), [&](const auto& kv) { return std::fabs(kv.first - penalties[k]) <= 1e-12; });
      row.push_back(it == paper.end() ? "-" : num(it->second));
    }
    t.rows.push_back(row);
  }
  page.figure(
      {c.title, svg_picture(c),
       "Each unit of one net predicted from all units of the other by an exact Lasso: a loss that stays low as the penalty "
       "grows means few units of the other net suffice (few-to-one); the paper's penalties are on another scale, so compare "
       "the shapes, not the columns.",
       t});
}

void groups_pair(Page& page, const Study& s, const json& L) {
  const std::string layer = L.at("layer");
  if (const std::string why = skipped(L); !why.empty()) return page.paragraph(layer + ": no spectral groups (" + why + ").");
  const json& pair = first_pair(L);
  const int p = pair.at("nets").at(0), q = pair.at("nets").at(1);
  const std::string dir = s.align_pair_dir(layer, p, q);
  const NpyArray joint = read_npy(dir + "/joint_corr.npy");
  const std::vector<double> order = read_npy(dir + "/groups_order.npy").to_double(),
                            label = read_npy(dir + "/groups_label.npy").to_double();
  const size_t n = order.size();
  if (joint.shape != std::vector<size_t>{n, n} || label.size() != n)
    throw InputError(dir + ": joint_corr.npy, groups_order.npy and groups_label.npy disagree in size");
  const std::vector<double> J = joint.to_double();
  std::vector<double> sorted(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      const size_t a = (size_t)order[i], b = (size_t)order[j];
      if (a >= n || b >= n) throw InputError(dir + "/groups_order.npy: a node index out of range");
      sorted[i * n + j] = J[a * n + b];
    }
  std::vector<int> borders;
  for (size_t i = 1; i < n; ++i)
    if (label[(size_t)order[i]] != label[(size_t)order[i - 1]]) borders.push_back((int)i);
  plot::HeatmapSpec spec;
  spec.title = layer + ": joint correlation sorted by spectral group", spec.colorbar_label = "correlation";
  spec.x_label = spec.y_label = "unit of either net (grouped: A's and B's units mixed)";
  spec.row_borders = spec.col_borders = borders;
  const plot::Heatmap h = plot::render_heatmap(sorted.data(), (int)n, (int)n, spec);

  const json& groups = pair.at("groups");
  Table t{{"group", "units of " + pair.value("net_a", std::string("A")), "units of " + pair.value("net_b", std::string("B")),
           "mean corr. between the nets"},
          {}};
  int g = 0;
  for (const json& G : groups.at("groups")) {
    if (g >= 16) {
      t.rows.push_back({"...", "", "", ""});
      break;
    }
    t.rows.push_back({std::to_string(g++), std::to_string(G.at("units_a").size()), std::to_string(G.at("units_b").size()),
                      num(number(G, "mean_between_net_corr"))});
  }
  page.figure({spec.title, png_picture(h.image),
               "Both nets' units in one matrix, ordered by the " + std::to_string(groups.value("k", 0)) +
                   " spectral groups (chosen by " + groups.value("chosen_by", std::string("?")) +
                   "; lines are group borders): bright blocks holding units of both nets (" +
                   std::to_string(groups.value("mixed", 0)) + " groups are mixed) are many-to-many counterparts" +
                   (h.note.empty() ? "." : " (" + h.note + ")."),
               t});
}

}  // namespace

void sparse_section(Page& page, const Study& s) {
  page.section("sparse", "Sparse prediction: few-to-one");
  const json* layers = align_layers(page, s, Part::Sparse);
  if (!layers) return;
  for (const json& L : *layers) {
    try {
      sparse_layer(page, L);
    } catch (const std::exception& e) {
      section_error(page, "sparse prediction of " + L.value("layer", std::string("?")) + ": " + e.what());
    }
  }
}

void groups_section(Page& page, const Study& s) {
  page.section("groups", "Spectral groups: many-to-many");
  const json* layers = align_layers(page, s, Part::Groups);
  if (!layers) return;
  if (!layers->empty()) page.paragraph("Per layer, the first pair of nets in bin/align's output.");
  for (const json& L : *layers) {
    try {
      groups_pair(page, s, L);
    } catch (const std::exception& e) {
      section_error(page, "spectral groups of " + L.value("layer", std::string("?")) + ": " + e.what());
    }
  }
}

void scores_section(Page& page, const Study& s) {
  page.section("scores", "Global similarity scores");
  const json* layers = align_layers(page, s, Part::Scores);
  if (!layers) return;
  try {
    const std::vector<std::pair<std::string, std::string>> keys = {{"cka_linear", "linear CKA"},
                                                                   {"cca_mean", "CCA (mean)"},
                                                                   {"svcca_mean", "SVCCA"},
                                                                   {"pwcca", "PWCCA"},
                                                                   {"procrustes", "Procrustes distance"}};
    plot::Chart c;
    c.title = "Global similarity per layer (mean over pairs; bars: min-max)";
    c.x_label = "layer";
    c.y_label = "score (Procrustes: distance, 0 = same)";
    Table t{{"layer"}, {}};
    for (const auto& k : keys) t.header.push_back(k.second);
    for (const json& L : *layers) c.categories.push_back(L.value("layer", "?"));
    std::vector<std::vector<std::string>> cells(layers->size());
    for (size_t i = 0; i < layers->size(); ++i) cells[i].push_back(c.categories[i]);
    for (const auto& [key, name] : keys) {
      plot::Series sr = series(name);
      sr.dashed = key == "procrustes";
      size_t i = 0;
      for (const json& L : *layers) {
        double sum = 0, lo = 1e300, hi = -1e300;
        int n = 0;
        for (const json& pair : L.at("pairs")) {
          const double v = number(pair.value("scores", json::object()), key);
          if (std::isfinite(v)) sum += v, lo = std::min(lo, v), hi = std::max(hi, v), ++n;
        }
        sr.y.push_back(n ? sum / n : NAN), sr.lo.push_back(n ? lo : NAN), sr.hi.push_back(n ? hi : NAN);
        std::string cell = n ? num(sum / n) + " (" + num(lo, 2) + "-" + num(hi, 2) + ")" : "-";
        // The image bootstrap's interval of the first pair, when bin/align computed one.
        const json first = L.at("pairs").empty() ? json::object() : L["pairs"][0].value("scores_interval", json::object());
        const json iv = first.value(key, json());
        if (iv.is_array() && iv.size() == 2 && iv[0].is_number() && iv[1].is_number())
          cell += " " + interval(iv[0].get<double>(), iv[1].get<double>());
        cells[i++].push_back(cell);
      }
      c.series.push_back(sr);
    }
    t.rows = cells;
    c.width = 820, c.height = 420;
    page.figure(
        {c.title, svg_picture(c),
         "Scores that compare whole layers rather than single units: similarity scores near 1 and a Procrustes distance near "
         "0 mean the two nets' layers span the same space up to rotation; compare their trend over layers with the "
         "unit matching above. Table: mean over pairs (range), then the first pair's 95% basic bootstrap interval over "
         "images where bin/align computed one.",
         t});
  } catch (const std::exception& e) {
    section_error(page, "global scores: " + std::string(e.what()));
  }
}

}  // namespace cvg::report
