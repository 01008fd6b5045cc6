#include "analysis/report/page.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "analysis/plot/svg_chart.h"

namespace cvg::report {

using plot::xml_escape;

namespace {

// Readable on screen and in print: one column of text, figures with their tables beside them
// (below them on a narrow window), notices in amber.
const char* kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; background: #fff; margin: 0; line-height: 1.45; }
main { max-width: 1500px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 26px; margin: 0 0 8px; }
h2 { font-size: 21px; margin: 40px 0 10px; padding-top: 8px; border-top: 2px solid #ddd; }
h3 { font-size: 16px; margin: 24px 0 8px; }
p { max-width: 60em; }
nav ol { columns: 2; max-width: 48em; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; margin: 12px 0 24px; }
figure { margin: 0; display: table; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { display: table-caption; caption-side: bottom; font-size: 14px; color: #444; padding-top: 6px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child, td.text { text-align: left; }
caption { caption-side: top; text-align: left; font-size: 13px; color: #555; padding-bottom: 4px; }
.notice { background: #fff4d6; border: 1px solid #e0b44c; border-left: 6px solid #e0a000; padding: 8px 12px; margin: 10px 0; max-width: 60em; }
.meta td { text-align: left; }
)";

// Records every image's decoded size in the DOM (data-natural="WxH", 0x0 when it failed), so a
// headless browser's --dump-dom shows whether each image decoded (scripts/check_report_browser.sh).
const char* kCheckScript = R"(
window.addEventListener('load', function () {
  var ok = 0, imgs = document.images;
  for (var i = 0; i < imgs.length; ++i) {
    var w = imgs[i].complete ? imgs[i].naturalWidth : 0, h = imgs[i].complete ? imgs[i].naturalHeight : 0;
    imgs[i].setAttribute('data-natural', w + 'x' + h);
    if (w > 0 && h > 0) ++ok;
  }
  document.body.setAttribute('data-images-decoded', ok + '/' + imgs.length);
});
)";

}  // namespace

std::string num(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string interval(double lo, double hi, int digits) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return "-";
  return "[" + num(lo, digits) + ", " + num(hi, digits) + "]";
}

void Page::section(const std::string& id, const std::string& heading) {
  toc_.emplace_back(id, heading);
  body_ += "<h2 id=\"" + xml_escape(id) + "\">" + xml_escape(heading) + "</h2>\n";
}

void Page::subheading(const std::string& text) { body_ += "<h3>" + xml_escape(text) + "</h3>\n"; }
void Page::paragraph(const std::string& text) { body_ += "<p>" + xml_escape(text) + "</p>\n"; }
void Page::raw(const std::string& html) { body_ += html; }
void Page::notice(const std::string& text) { body_ += "<div class=\"notice\"><b>Missing:</b> " + xml_escape(text) + "</div>\n"; }

namespace {
// Numbers, intervals and ranges are right-aligned; words are not.
bool numeric(const std::string& c) {
  return !c.empty() && (std::isdigit((unsigned char)c[0]) || c[0] == '-' || c[0] == '[' || c[0] == '+' || c[0] == '.');
}

std::string table_html(const Table& t, const std::string& caption) {
  std::string h = "<table>";
  if (!caption.empty()) h += "<caption>" + xml_escape(caption) + "</caption>";
  h += "<tr>";
  for (const std::string& c : t.header) h += "<th>" + xml_escape(c) + "</th>";
  h += "</tr>\n";
  for (const auto& row : t.rows) {
    h += "<tr>";
    for (const std::string& c : row) h += (numeric(c) ? "<td>" : "<td class=\"text\">") + xml_escape(c) + "</td>";
    h += "</tr>\n";
  }
  return h + "</table>\n";
}
}  // namespace

void Page::table(const Table& t, const std::string& caption) { body_ += table_html(t, caption); }

void Page::figure(const Figure& f) { figures({f}); }

void Page::figures(const std::vector<Figure>& row) {
  body_ += "<div class=\"row\">";
  for (const Figure& f : row) {
    const std::string id = "fig" + std::to_string(manifest_.size() + 1);
    manifest_.push_back({{"id", id}, {"title", f.title}, {"width", f.picture.width}, {"height", f.picture.height}});
    body_ += "<figure><img id=\"" + id + "\" src=\"" + f.picture.src + "\" width=\"" + std::to_string(f.picture.width) +
             "\" height=\"" + std::to_string(f.picture.height) + "\" alt=\"" + xml_escape(f.title) + "\"><figcaption><b>Figure " +
             std::to_string(manifest_.size()) + ".</b> " + xml_escape(f.caption) + "</figcaption></figure>\n";
    if (!f.table.header.empty()) body_ += table_html(f.table, "");
  }
  body_ += "</div>\n";
}

std::string Page::html() const {
  std::string toc = "<nav><b>Contents</b><ol>";
  for (const auto& [id, heading] : toc_) toc += "<li><a href=\"#" + xml_escape(id) + "\">" + xml_escape(heading) + "</a></li>";
  toc += "</ol></nav>\n";
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + xml_escape(title_) +
         "</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>" + kStyle +
         "</style>\n<script>" + kCheckScript + "</script>\n</head><body><main>\n<h1>" + xml_escape(title_) + "</h1>\n" + head_ +
         toc + body_ + "</main></body></html>\n";
}

nlohmann::json Page::manifest() const { return manifest_; }

}  // namespace cvg::report
