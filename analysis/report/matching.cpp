// The per-layer summary of one-to-one matching (the paper's central figure), the untrained-net null,
// the random baseline and the paper's values, then the paper's claims judged on these nets.
#include "analysis/report/figures.h"
#include "analysis/stats/paper_claims.h"

namespace cvg::report {

using json = nlohmann::json;

namespace {

// A series of one statistic over the layers, with its net-resampling interval as error bars.
plot::Series stat_series(const std::string& name, const json& list, const std::string& key, bool dashed,
                         const std::string& color) {
  plot::Series s = series(name);
  s.dashed = dashed, s.color = color;
  for (const json& l : list) {
    const Stat st = stat(l, key);
    s.y.push_back(st.mean), s.lo.push_back(st.lo), s.hi.push_back(st.hi);
  }
  return s;
}

json entry_of(const json& list, const std::string& layer) {
  if (list.is_array())
    for (const json& l : list)
      if (l.value("layer", "") == layer) return l;
  return json::object();
}

}  // namespace

void matching_section(Page& page, const Study& s) {
  page.section("matching", "How well units match, per layer");
  const bool missing = notices(page, s, Part::Matching);
  if (!s.corr) return;
  const json& sum = s.corr->summary;
  if (!sum.contains("over_pairs") || !sum["over_pairs"].is_array() || sum["over_pairs"].empty()) {
    if (!missing) page.notice(s.corr->dir + "/summary.json: no over_pairs (written by an older bin/correlate?)");
    return;
  }
  const json& op = sum["over_pairs"];
  const json null = sum.contains("null_untrained") ? sum["null_untrained"] : json::array();
  plot::Chart c;
  c.title = "Matched correlation per layer";
  c.x_label = "layer";
  c.y_label = "mean correlation of matched units";
  for (const json& l : op) c.categories.push_back(l.value("layer", "?"));
  c.series.push_back(stat_series("semi-matching", op, "semi", false, plot::palette_color(0)));
  c.series.push_back(stat_series("bipartite", op, "bipartite", false, plot::palette_color(1)));
  json null_aligned = json::array();
  for (const std::string& layer : c.categories) null_aligned.push_back(entry_of(null, layer));
  if (!null.empty())
    c.series.push_back(stat_series("untrained nets, bipartite", null_aligned, "bipartite", true, plot::palette_color(2)));
  plot::Series random = stat_series("random matching", op, "random", true, "#888888");
  random.kind = plot::SeriesKind::Line, random.lo.clear(), random.hi.clear();
  c.series.push_back(random);
  plot::Series ps = series("paper, semi-matching", plot::SeriesKind::Markers),
               pb = series("paper, bipartite", plot::SeriesKind::Markers);
  ps.color = plot::palette_color(0), pb.color = plot::palette_color(1);
  ps.marker = plot::MarkerShape::Diamond, pb.marker = plot::MarkerShape::Square;
  bool any_paper = false;
  for (const std::string& layer : c.categories) {
    const PaperFigures f = paper_figures(layer);
    ps.y.push_back(f.semi >= 0 ? f.semi : NAN), pb.y.push_back(f.bipartite >= 0 ? f.bipartite : NAN);
    any_paper |= f.semi >= 0;
  }
  if (any_paper) c.series.push_back(ps), c.series.push_back(pb);
  c.width = 820, c.height = 440;

  Table t{
      {"layer", "semi", "95% (nets)", "bipartite", "95% (nets)", "range", "untrained bip.", "random", "paper bip.", "paper semi"},
      {}};
  for (size_t i = 0; i < op.size(); ++i) {
    const std::string layer = c.categories[i];
    const Stat se = stat(op[i], "semi"), bi = stat(op[i], "bipartite"), ra = stat(op[i], "random"),
               nu = stat(null_aligned[i], "bipartite");
    const PaperFigures f = paper_figures(layer);
    t.rows.push_back({layer, num(se.mean), interval(se.lo, se.hi), num(bi.mean), interval(bi.lo, bi.hi),
                      num(bi.min, 2) + "-" + num(bi.max, 2), num(nu.mean), num(ra.mean),
                      f.bipartite >= 0 ? num(f.bipartite) : "-", f.semi >= 0 ? num(f.semi) : "-"});
  }
  const int K = (int)s.corr->nets.size();
  std::string caption = "Each point is the mean over the " + std::to_string(K * (K - 1) / 2) +
                        " pairs of nets of the correlation between matched units" +
                        (K >= 3 ? " with its 95% interval from resampling the nets"
                                : " (two nets: no interval, they give no spread between seeds)") +
                        "; look at whether the trained nets (solid) sit above or below the untrained nets and how far above the "
                        "random matching (dashed), and where the "
                        "paper's CaffeNet values (diamonds and squares) fall.";
  page.figure({c.title, svg_picture(c), caption, t});

  if (sum.contains("paper_claims") && sum["paper_claims"].is_array()) {
    page.subheading("The paper's claims, judged on these nets");
    Table claims{{"claim", "verdict", "evidence (difference, 95% interval from resampling the nets)"}, {}};
    for (const json& cl : sum["paper_claims"])
      claims.rows.push_back({cl.value("claim", "?"), cl.value("verdict", "?"), cl.value("evidence", "")});
    page.table(
        claims,
        "supported: every comparison's interval lies on the claim's side of zero; contradicted: one lies on the other side");
  }
}

}  // namespace cvg::report
