#include "analysis/report/figures.h"

#include <cstdlib>

#include "analysis/plot/raster.h"
#include "base/log.h"

namespace cvg::report {

using json = nlohmann::json;

bool notices(Page& page, const Study& s, Part p, const std::string& layer) {
  const std::vector<std::string> list = s.problems_of(p, layer);
  for (const std::string& m : list) page.notice(m);
  return !list.empty();
}

void section_error(Page& page, const std::string& message) {
  page.notice(message);
  if (page.warn_once(message)) log_warning("report: " + message);
}

namespace {
// The value of attribute `name` ("width") in the first tag of `svg`: the size the browser will decode.
int svg_attribute(const std::string& svg, const std::string& name) {
  const size_t tag_end = svg.find('>');
  const size_t at = svg.find(" " + name + "=\"");
  if (at == std::string::npos || at > tag_end) return 0;
  return std::atoi(svg.c_str() + at + name.size() + 3);
}
}  // namespace

plot::Series series(const std::string& name, plot::SeriesKind kind, std::vector<double> y) {
  plot::Series s;
  s.name = name, s.kind = kind, s.y = std::move(y);
  return s;
}

Picture svg_picture(const plot::Chart& chart) {
  const std::string svg = plot::render_svg(chart);
  return {plot::data_uri_svg(svg), svg_attribute(svg, "width"), svg_attribute(svg, "height")};
}

Picture png_picture(const Image& image) { return {plot::data_uri(image), image.w, image.h}; }

double number(const json& j, const std::string& key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return NAN;
  return j[key].get<double>();
}

Stat stat(const json& entry, const std::string& key) {
  Stat s;
  if (!entry.is_object() || !entry.contains(key)) return s;
  const json& v = entry[key];
  s.mean = number(v, "mean_over_pairs"), s.min = number(v, "min_over_pairs"), s.max = number(v, "max_over_pairs");
  if (v.contains("net_resampling_95") && v["net_resampling_95"].is_array() && v["net_resampling_95"].size() == 2 &&
      v["net_resampling_95"][0].is_number() && v["net_resampling_95"][1].is_number())
    s.lo = v["net_resampling_95"][0].get<double>(), s.hi = v["net_resampling_95"][1].get<double>();
  return s;
}

void nets_section(Page& page, const Study& s) {
  page.section("nets", "The nets");
  notices(page, s, Part::Nets);
  if (!s.corr) {
    Table t{{"run folder", "test top-1", "at epoch"}, {}};
    for (const RunFolder& r : s.runs) t.rows.push_back({r.dir, num(100 * r.test_top1, 2) + "%", num(r.epoch, 1)});
    page.table(t, "The run folders given (the correlate output, which says which checkpoints were compared, is missing)");
    return;
  }
  const json& sum = s.corr->summary;
  Table t{{"net", "name", "seed", "iteration", "config", "test top-1", "checkpoint compared"}, {}};
  for (const NetRecord& n : s.corr->nets) {
    std::string acc = "-";
    for (const RunFolder& r : s.runs)
      if (r.name == n.name || r.name == n.run) acc = num(100 * r.test_top1, 2) + "% (epoch " + num(r.epoch, 1) + ")";
    t.rows.push_back(
        {std::to_string(n.index), n.name, std::to_string(n.seed), std::to_string(n.iteration), n.config, acc, n.checkpoint});
  }
  page.table(t, "Nets in the correlate output, in its order (test top-1 from each run folder's log.jsonl)");
  Table m{{"", ""}, {}};
  m.rows.push_back({"data", sum.value("data", std::string("-")) + ", " + sum.value("split", std::string("-")) + " split"});
  m.rows.push_back(
      {"images used", std::to_string(sum.value("images", 0)) + " of " + std::to_string(sum.value("split_images", 0))});
  m.rows.push_back({"device", sum.value("device", std::string("-"))});
  m.rows.push_back({"machine", sum.value("machine", std::string("-"))});
  m.rows.push_back({"correlate output", s.corr->dir});
  if (!s.align.is_null()) m.rows.push_back({"align output", s.align_dir});
  page.raw("<div class=\"meta\">");
  page.table(m, "Where the statistics come from");
  page.raw("</div>");
}

}  // namespace cvg::report
