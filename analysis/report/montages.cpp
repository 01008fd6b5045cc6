// bin/visualize's figures of the best and worst matched unit pairs, with the labels a reader needs
// beside them: which net is on top, and per column the rank, both units and their correlation.
#include "analysis/plot/raster.h"
#include "analysis/report/figures.h"
#include "base/io.h"
#include "data/image_decode.h"

namespace cvg::report {

using json = nlohmann::json;

namespace {

// A PNG file as it is, with its size; InputError when it is not a whole PNG (decoded once to know:
// a truncated or damaged file would otherwise go onto the page, where a browser shows what it can).
Picture png_file(const std::string& path) {
  const std::vector<char> b = read_file(path);
  if (b.size() < 8 || std::string(b.data(), 8) != "\x89PNG\r\n\x1a\n") throw InputError(path + ": not a PNG file");
  const data::RgbImage img = data::decode_rgb(b, path);
  return {"data:image/png;base64," + plot::base64(std::string(b.begin(), b.end())), img.w, img.h};
}

std::string who(const json& net) {
  return net.value("name", std::string("?")) + " (seed " + std::to_string(net.value("seed", 0)) + ")";
}

void montage(Page& page, const VisLayer& v, const std::string& which, const std::string& path) {
  const json& d = v.doc;
  const std::string A = who(d.at("net_a")), B = who(d.at("net_b"));
  // A column's rank among all matched pairs, as its header in the figure: the worst list starts at
  // the last ("#N of N"); N is in sidecars since matched_pairs was added, else the rank is not shown.
  const long long matched = d.value("matched_pairs", -1LL);
  Table t{{"column", "rank (1 = best)", "A unit", "B unit", "correlation"}, {}};
  for (const json& p : d.at(which)) {
    const long long col = p.value("rank", 0LL) + 1;
    const std::string rank = matched > 0
                                 ? std::to_string(which == "best" ? col : matched + 1 - col) + " of " + std::to_string(matched)
                             : which == "best" ? std::to_string(col)
                                               : "-";
    t.rows.push_back({std::to_string(col), rank, std::to_string(p.value("unit_a", -1)), std::to_string(p.value("unit_b", -1)),
                      num(number(p, "correlation"))});
  }
  const std::string title = v.layer + ": the " + which + " matched pairs";
  page.figure({title, png_file(path),
               "One column per bipartite pair, " + which + " first from the left: on top A = " + A + ", below B = " + B +
                   "; each unit shows its top " + std::to_string(d.value("k", 9)) + " image patches above their " + v.mode +
                   " projections. Look for columns whose two halves respond to the same pattern.",
               t});
}

}  // namespace

void montages_section(Page& page, const Study& s) {
  page.section("montages", "The best and worst matched units");
  for (const Problem& p : s.problems)  // every layer's too: a layer with a damaged sidecar has no entry below
    if (p.part == Part::Montages) page.notice(p.message);
  for (const VisLayer& v : s.vis) {
    page.subheading(v.layer);
    try {
      if (v.best_png.empty() && v.worst_png.empty())
        page.paragraph(
            "No best or worst figure: bin/visualize drew none here (no matched pair, or only --pairs/--units figures).");
      if (!v.best_png.empty()) montage(page, v, "best", v.best_png);
      if (!v.worst_png.empty()) montage(page, v, "worst", v.worst_png);
    } catch (const std::exception& e) {
      section_error(page, v.layer + ": " + e.what());
    }
  }
}

}  // namespace cvg::report
