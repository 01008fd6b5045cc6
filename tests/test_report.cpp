// bin/report's page and model (analysis/report/): the page is self-contained and escapes what it is
// given, its manifest lists each image with the size it was drawn at, and loading result folders
// that are missing or damaged records each problem instead of throwing.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "analysis/plot/svg_chart.h"
#include "analysis/report/figures.h"
#include "analysis/report/report.h"
#include "base/io.h"
#include "tests/check.h"

using namespace cvg;
using namespace cvg::report;

TEST_CASE("report: a page escapes text, numbers its figures and lists them with their drawn sizes") {
  Page page("A <study> & more");
  page.section("one", "First & only");
  page.notice("x/summary.json: not valid JSON <here>");
  plot::Chart c;
  c.title = "t", c.x_label = "x", c.y_label = "y", c.width = 300, c.height = 200;
  c.series.push_back(series("s", plot::SeriesKind::Line, {1, 2, 3}));
  const Picture svg = svg_picture(c);
  CHECK(svg.src.rfind("data:image/svg+xml;base64,", 0) == 0);
  CHECK(svg.width == 300);
  CHECK(svg.height >= 200);  // the chart's own height, plus any caption lines it draws
  page.figure({"chart <1>", svg, "what to look for", {{"a", "b"}, {{"1", "<2>"}}}});
  page.figure({"image", png_picture(Image(7, 5)), "a small image", {}});
  const std::string html = page.html();
  CHECK(html.find("<title>A &lt;study&gt; &amp; more</title>") != std::string::npos);
  CHECK(html.find("<a href=\"#one\">First &amp; only</a>") != std::string::npos);
  CHECK(html.find("not valid JSON &lt;here&gt;") != std::string::npos);
  CHECK(html.find("<td class=\"text\">&lt;2&gt;</td>") != std::string::npos);
  CHECK(html.find("<td>1</td>") != std::string::npos);  // numbers right-aligned, words not
  CHECK(html.find("<b>Figure 2.</b>") != std::string::npos);
  CHECK(html.find("http") == std::string::npos);  // nothing fetched
  const nlohmann::json m = page.manifest();
  REQUIRE(m.size() == 2);
  CHECK(m[0]["id"] == "fig1");
  CHECK(m[0]["title"] == "chart <1>");
  CHECK(m[1]["width"] == 7);
  CHECK(m[1]["height"] == 5);
  CHECK(html.find("<img id=\"fig2\"") != std::string::npos);
}

TEST_CASE("report: missing and damaged folders become problems of their parts, and still a page") {
  test::ScratchDir scratch("report");
  const std::string& dir = scratch.path();
  make_dirs(dir + "/corr");
  write_file_atomic(dir + "/corr/summary.json", std::string("{\"format\": \"convergent-corr"));
  make_dirs(dir + "/run");
  const Study s = load_study({{dir + "/run", dir + "/nowhere"}, dir + "/corr", "", dir + "/vis"});
  CHECK_FALSE(s.corr.has_value());
  REQUIRE(s.problems_of(Part::Matching).size() == 1);
  CHECK(s.problems_of(Part::Matching)[0].find("summary.json: not valid JSON") != std::string::npos);
  CHECK(s.problems_of(Part::Sparse).at(0).find("no --align-dir given") != std::string::npos);
  CHECK(s.problems_of(Part::Montages).at(0).find("/vis: no such folder") != std::string::npos);
  const std::vector<std::string> nets = s.problems_of(Part::Nets);
  REQUIRE(nets.size() == 2);
  CHECK(nets[0].find("run/log.jsonl: missing") != std::string::npos);
  CHECK(nets[1].find("nowhere: no such run folder") != std::string::npos);
  const std::string html = build_page(s).html();
  for (const char* id : {"nets", "matching", "layers", "montages", "sparse", "groups", "scores"})
    CHECK(html.find("id=\"" + std::string(id) + "\"") != std::string::npos);
  CHECK(html.find("Missing:</b> the correlate output cannot be read: " + dir + "/corr/summary.json: not valid JSON") !=
        std::string::npos);
}
