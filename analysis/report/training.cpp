// Similarity over training (bin/correlate --at-iterations) and the other per-layer results the
// statistics write: cycle consistency over three or more nets, universal units, dead units, how
// redundant each net is with itself, and the image-bootstrap intervals.
#include "analysis/report/figures.h"

namespace cvg::report {

using json = nlohmann::json;

void training_section(Page& page, const Study& s) {
  page.section("training", "Similarity over training");
  notices(page, s, Part::Training);
  if (!s.corr) return;
  const json& sum = s.corr->summary;
  if (!sum.contains("over_training") || !sum["over_training"].is_array() || sum["over_training"].empty()) {
    page.paragraph(
        "This correlate output has no checkpoints over training (bin/correlate --at-iterations 0,500,last adds them).");
    return;
  }
  try {
    const json& ot = sum["over_training"];
    plot::Chart c;
    c.title = "Bipartite matched correlation over training";
    c.x_label = "checkpoint";
    c.y_label = "mean bipartite correlation";
    for (const json& e : ot)
      c.categories.push_back(e.at("checkpoint").is_string() ? e["checkpoint"].get<std::string>() : e["checkpoint"].dump());
    std::vector<std::string> layers;
    for (const json& l : ot[0].at("layers")) layers.push_back(l.value("layer", "?"));
    Table t{{"layer"}, {}};
    for (const std::string& cp : c.categories) t.header.push_back(cp);
    for (const std::string& layer : layers) {
      plot::Series sr = series(layer);
      std::vector<std::string> row = {layer};
      for (const json& e : ot) {
        Stat st;
        for (const json& l : e.at("layers"))
          if (l.value("layer", "") == layer) st = stat(l, "bipartite");
        sr.y.push_back(st.mean), sr.lo.push_back(st.lo), sr.hi.push_back(st.hi);
        row.push_back(num(st.mean));
      }
      c.series.push_back(sr);
      t.rows.push_back(row);
    }
    c.width = 720, c.height = 400;
    page.figure(
        {c.title, svg_picture(c),
         "Each line is one layer's mean matched correlation at each checkpoint: a rising line means the nets' units converge "
         "on the same features as they learn, a falling one that learning makes them diverge from the architecture's prior.",
         t});
  } catch (const std::exception& e) {
    section_error(page, "over_training: " + std::string(e.what()));
  }
}

void other_section(Page& page, const Study& s) {
  page.section("other", "More per-layer results");
  notices(page, s, Part::Other);
  if (!s.corr) return;
  try {
    const json& layers = s.corr->summary.at("layers");
    plot::Chart c;
    c.title = "Convergence beyond pairs, and each net against itself";
    c.x_label = "layer";
    c.y_label = "fraction / mean correlation";
    plot::Series cyc = series("cycle-consistent units (all nets)"), within = series("within-net best partner (net A)"),
                 semi = series("semi-matching A to B");
    within.dashed = true;
    Table t{{"layer", "units", "dead (per net)", "cycle-consistent", "universal units (per net)", "within-net best A", "semi A to B",
             "bootstrap 95% bipartite (pair 0-1)"},
            {}};
    for (const json& L : layers) {
      const std::string name = L.value("layer", "?");
      c.categories.push_back(name);
      const json mw = L.value("multiway", json::object());
      const json pair = L.contains("pairs") && !L["pairs"].empty() ? L["pairs"][0] : json::object();
      cyc.y.push_back(number(mw, "cycle_consistent_fraction"));
      within.y.push_back(number(pair, "within_best_a"));
      semi.y.push_back(number(pair, "semi_matching_ab"));
      auto list = [](const json& a) {
        std::string out;
        for (const json& v : a.is_array() ? a : json::array()) out += (out.empty() ? "" : ", ") + v.dump();
        return out.empty() ? std::string("-") : out;
      };
      const std::string dead = list(L.value("dead_units", json::array())), units = list(L.value("units", json::array()));
      std::string boot = "-";
      if (L.contains("bootstrap") && L["bootstrap"].contains("pairs") && !L["bootstrap"]["pairs"].empty()) {
        const json& b = L["bootstrap"]["pairs"][0].value("bipartite", json());
        if (b.is_array() && b.size() == 2 && b[0].is_number() && b[1].is_number())
          boot = interval(b[0].get<double>(), b[1].get<double>());
      }
      t.rows.push_back(
          {name, units, dead,
           mw.is_object() && mw.contains("cycle_consistent_fraction") ? num(number(mw, "cycle_consistent_fraction")) : "-",
           list(mw.value("universal_count", json::array())),
           num(number(pair, "within_best_a")), num(number(pair, "semi_matching_ab")), boot});
    }
    c.series = {cyc, within, semi};
    c.y_min = 0, c.y_max = 1;
    c.width = 760, c.height = 400;
    page.figure(
        {c.title, svg_picture(c),
         "Cycle-consistent units come back to themselves along every chain of bipartite matchings through the other nets; the "
         "within-net line is how well a unit is matched by another unit of its own net, a yardstick for the between-net "
         "semi-matching.",
         t});
  } catch (const std::exception& e) {
    section_error(page, "per-layer results: " + std::string(e.what()));
  }
}

}  // namespace cvg::report
