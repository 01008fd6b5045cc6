// Mutual information vs correlation as the matching criterion (the paper checks conv1 and conv2):
// how much correlation the MI matching's pairs have, how often the two matchings agree, and the top
// pairs under each.
#include <algorithm>
#include <functional>

#include "analysis/report/figures.h"

namespace cvg::report {

using json = nlohmann::json;

namespace {

struct Pair {
  int a, b;
  double corr, mi;
};

std::vector<Pair> matched(const std::vector<int64_t>& match, const std::vector<double>& corr, const std::vector<double>& mi,
                          int cols) {
  std::vector<Pair> out;
  for (int i = 0; i < (int)match.size(); ++i)
    if (match[i] >= 0) out.push_back({i, (int)match[i], corr[(size_t)i * cols + match[i]], mi[(size_t)i * cols + match[i]]});
  return out;
}

void mi_figure(Page& page, const Study& s, const std::string& layer, const json& pair) {
  const CorrelateOutput& o = *s.corr;
  const json& L = o.layer(layer);
  const int ca = L.at("units").at(0).get<int>(), cb = L.at("units").at(1).get<int>();
  const std::vector<double> corr = read_pair_matrix(o, layer, PairMatrix::Between, 0, 1, ca, cb);
  const std::vector<double> mi = read_pair_matrix(o, layer, PairMatrix::MutualInfo, 0, 1, ca, cb);
  std::vector<Pair> by_corr = matched(read_pair_assignment(o, layer, 0, 1, ca, cb), corr, mi, cb);
  std::vector<Pair> by_mi = matched(read_pair_assignment(o, layer, 0, 1, ca, cb, PairAssignment::MutualInfo), corr, mi, cb);
  std::sort(by_corr.begin(), by_corr.end(), [](const Pair& x, const Pair& y) { return x.corr > y.corr; });
  std::sort(by_mi.begin(), by_mi.end(), [](const Pair& x, const Pair& y) { return x.mi > y.mi; });

  plot::Chart c;
  c.title = layer + ": correlation of the pairs each matching makes";
  c.x_label = "pair rank (by correlation, best first)";
  c.y_label = "correlation of the pair";
  plot::Series sc = series("matched by correlation", plot::SeriesKind::Line),
               sm = series("matched by mutual information", plot::SeriesKind::LineMarkers);
  for (const Pair& p : by_corr) sc.y.push_back(p.corr);
  for (const Pair& p : by_mi) sm.y.push_back(p.corr);
  std::sort(sm.y.begin(), sm.y.end(), std::greater<>());  // both curves best first, so they compare rank by rank
  c.series = {sc, sm};
  c.width = 640, c.height = 360;

  Table t{{"rank", "by correlation: A-B", "corr", "MI (nats)", "by MI: A-B", "MI (nats)", "corr"}, {}};
  for (size_t r = 0; r < 8 && r < std::min(by_corr.size(), by_mi.size()); ++r) {
    const Pair &x = by_corr[r], &y = by_mi[r];
    t.rows.push_back({std::to_string(r + 1), std::to_string(x.a) + "-" + std::to_string(x.b), num(x.corr), num(x.mi),
                      std::to_string(y.a) + "-" + std::to_string(y.b), num(y.mi), num(y.corr)});
  }
  const double agree = number(pair, "mi_agrees_with_correlation"), top8 = number(pair, "mi_same_in_top8_correlation_pairs");
  page.figure({c.title, svg_picture(c),
               "For " + net_label(s, 0) + " and " + net_label(s, 1) + ", MI matches " + num(100 * agree, 0) +
                   "% of the units to the same partner as correlation does, and " + num(top8, 0) +
                   " of the 8 best correlation pairs also appear in the MI matching; when the two curves lie together, the "
                   "criteria find the same counterparts (the paper: they mostly agree).",
               t});
}

}  // namespace

void mutual_info_section(Page& page, const Study& s) {
  page.section("mutual-info", "Mutual information vs correlation matching");
  notices(page, s, Part::MutualInfo);
  if (!s.corr) {
    page.notice("the correlate output is missing");
    return;
  }
  int shown = 0;
  for (const std::string& layer : s.layers) {
    const json& L = s.corr->layer(layer);
    if (!L.contains("pairs") || L["pairs"].empty() || !L["pairs"][0].contains("mi_agrees_with_correlation")) continue;
    page.subheading(layer);
    try {
      mi_figure(page, s, layer, L["pairs"][0]);
      ++shown;
    } catch (const std::exception& e) {
      section_error(page, layer + ": " + e.what());
    }
  }
  if (!shown)
    page.paragraph(
        "No layer of this correlate output has mutual information (bin/correlate --mi-layers; by default conv1, conv2).");
}

}  // namespace cvg::report
