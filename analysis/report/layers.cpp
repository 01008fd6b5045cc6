// Per layer, nets 0 and 1 as the paper shows Net1 and Net2: the between-net correlation matrix, raw
// and with net B's units reordered by the bipartite matching (matched pairs on the diagonal), and
// every unit's matched correlation sorted from best to worst.
#include <algorithm>
#include <functional>
#include <set>

#include "analysis/report/figures.h"

namespace cvg::report {

using json = nlohmann::json;

namespace {

std::set<int> dead_units(const json& layer, int net) {
  std::set<int> dead;
  if (layer.contains("zero_variance_units") && layer["zero_variance_units"].is_array() &&
      (int)layer["zero_variance_units"].size() > net)
    for (const json& u : layer["zero_variance_units"][net]) dead.insert(u.get<int>());
  return dead;
}

// Each live row's best correlation with a live column (the semi-matching), sorted best first.
std::vector<double> sorted_best(const std::vector<double>& m, int rows, int cols, const std::set<int>& dead_r,
                                const std::set<int>& dead_c, bool by_column) {
  std::vector<double> best;
  const int n = by_column ? cols : rows, other = by_column ? rows : cols;
  for (int i = 0; i < n; ++i) {
    if ((by_column ? dead_c : dead_r).count(i)) continue;
    double b = -2;
    for (int j = 0; j < other; ++j)
      if (!(by_column ? dead_r : dead_c).count(j)) b = std::max(b, by_column ? m[(size_t)j * cols + i] : m[(size_t)i * cols + j]);
    if (b > -2) best.push_back(b);
  }
  std::sort(best.begin(), best.end(), std::greater<>());
  return best;
}

void layer_figures(Page& page, const Study& s, const std::string& layer) {
  const CorrelateOutput& o = *s.corr;
  const json& L = o.layer(layer);
  const int ca = L.at("units").at(0).get<int>(), cb = L.at("units").at(1).get<int>();
  const std::vector<double> m = read_pair_matrix(o, layer, PairMatrix::Between, 0, 1, ca, cb);
  const std::vector<int64_t> match = read_pair_assignment(o, layer, 0, 1, ca, cb);
  const std::string A = net_label(s, 0), B = net_label(s, 1);

  // Matched pairs best first (rows: A's units, columns: their partners), so the diagonal runs from the
  // best matched pair at the top left to the worst; unmatched units after them.
  std::vector<int> rows;
  for (int i = 0; i < ca; ++i)
    if (match[i] >= 0) rows.push_back(i);
  std::stable_sort(rows.begin(), rows.end(),
                   [&](int x, int y) { return m[(size_t)x * cb + match[x]] > m[(size_t)y * cb + match[y]]; });
  const int matched = (int)rows.size();
  std::vector<int> order;
  std::vector<bool> placed(cb, false);
  for (int i : rows) order.push_back((int)match[i]), placed[match[i]] = true;
  for (int j = 0; j < cb; ++j)
    if (!placed[j]) order.push_back(j);
  for (int i = 0; i < ca; ++i)
    if (match[i] < 0) rows.push_back(i);
  std::vector<double> re((size_t)ca * cb);
  for (int r = 0; r < ca; ++r)
    for (int c = 0; c < cb; ++c) re[(size_t)r * cb + c] = m[(size_t)rows[r] * cb + order[c]];

  plot::HeatmapSpec raw;
  raw.title = layer + ": correlation between the nets' units", raw.x_label = B + " unit", raw.y_label = A + " unit";
  raw.colorbar_label = "correlation";
  plot::HeatmapSpec sorted = raw;
  sorted.title = layer + ": B reordered by the bipartite matching";
  sorted.x_label = B + ": partner of the row's unit", sorted.y_label = A + ": matched pairs, best first";
  if (matched < ca) sorted.row_borders = {matched};
  if (matched < cb) sorted.col_borders = {matched};
  const plot::Heatmap h1 = plot::render_heatmap(m.data(), ca, cb, raw), h2 = plot::render_heatmap(re.data(), ca, cb, sorted);
  const std::string note = h1.note.empty() ? "" : " (" + h1.note + ")";
  const Figure raw_figure{raw.title,
                          png_picture(h1.image),
                          "Row i, column j: the correlation of " + A + "'s unit i with " + B +
                              "'s unit j over every image and position" + note +
                              "; in the raw order no structure is expected, since nothing ties unit numbers across nets.",
                          {}};
  page.figures(
      {raw_figure,
       {sorted.title,
        png_picture(h2.image),
        std::string(
            "The same matrix with the bipartite pairs on the diagonal, best matched at the top left (axis ticks count "
            "positions, not unit numbers): a bright diagonal means one-to-one counterparts exist; where it fades, units have "
            "no good partner") +
            (matched < std::max(ca, cb) ? " (the lines set off units left unmatched)." : "."),
        {}}});

  const std::set<int> dead_a = dead_units(L, 0), dead_b = dead_units(L, 1);
  std::vector<double> bip;
  for (int i = 0; i < ca; ++i)
    if (match[i] >= 0) bip.push_back(m[(size_t)i * cb + match[i]]);
  std::sort(bip.begin(), bip.end(), std::greater<>());
  const std::vector<double> semi_ab = sorted_best(m, ca, cb, dead_a, dead_b, false),
                            semi_ba = sorted_best(m, ca, cb, dead_a, dead_b, true);
  plot::Chart c;
  c.title = layer + ": matched correlation of every unit, best first";
  c.x_label = "unit rank (best matched first)";
  c.y_label = "correlation with its partner";
  c.series.push_back(series("semi-matching, " + o.nets[0].name + " to " + o.nets[1].name, plot::SeriesKind::Line, semi_ab));
  c.series.push_back(series("semi-matching, " + o.nets[1].name + " to " + o.nets[0].name, plot::SeriesKind::Line, semi_ba));
  c.series.push_back(series("bipartite", plot::SeriesKind::Line, bip));
  json pair = json::object();
  if (L.contains("pairs") && L["pairs"].is_array() && !L["pairs"].empty()) pair = L["pairs"][0];
  const double rnd = number(pair, "random_permutation_expected");
  if (std::isfinite(rnd)) {
    plot::Series r = series("random matching (expected)", plot::SeriesKind::Line, {rnd, rnd});
    r.x = {0, (double)std::max<size_t>(1, semi_ab.size()) - 1};
    r.dashed = true, r.color = "#888888";
    c.series.push_back(r);
  }
  c.width = 640, c.height = 380;
  Table t{{"", "value"}, {}};
  auto row = [&](const std::string& what, const std::string& v) { t.rows.push_back({what, v}); };
  row("units (A, B)", std::to_string(ca) + ", " + std::to_string(cb));
  row("dead units (A, B)", std::to_string(dead_a.size()) + ", " + std::to_string(dead_b.size()));
  row("semi-matching A to B", num(number(pair, "semi_matching_ab")));
  row("semi-matching B to A", num(number(pair, "semi_matching_ba")));
  row("bipartite", num(number(pair, "bipartite")));
  row("random matching", num(rnd));
  row("mutual best partners (units)", num(number(pair, "mutual_best_partners"), 0));
  row("same partner, semi and bipartite", num(100 * number(pair, "same_partner_semi_and_bipartite"), 1) + "%");
  row("best pair: corr", bip.empty() ? "-" : num(bip.front()));
  row("worst matched pair: corr", bip.empty() ? "-" : num(bip.back()));
  page.figure(
      {c.title, svg_picture(c),
       "Where the bipartite curve falls below the semi-matching curves, units had to take a worse partner than their best "
       "one (several units share a best partner); its low tail are the units with no counterpart in the other net.",
       t});
}

}  // namespace

void layers_section(Page& page, const Study& s) {
  page.section("layers", "Layer by layer: the correlation matrices and every unit's match");
  notices(page, s, Part::Layers);
  if (!s.corr) {
    page.notice("the correlate output is missing, so no layer can be shown");
    return;
  }
  page.paragraph("Nets A = " + net_label(s, 0) + " and B = " + net_label(s, 1) +
                 " (the first two of the correlate output), as the paper shows its Net1 and Net2; units are numbered from 0.");
  for (const std::string& layer : s.corr->layers) {
    page.subheading(layer);
    if (!s.layer_ok(layer)) {
      notices(page, s, Part::Layers, layer);
      continue;
    }
    try {
      layer_figures(page, s, layer);
    } catch (const std::exception& e) {
      section_error(page, layer + ": " + e.what());
    }
  }
}

}  // namespace cvg::report
