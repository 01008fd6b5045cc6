// The report's HTML page: sections with a table of contents, figures (every image inline as a data
// URI), tables beside them, and visible notices where a part of the input is missing. Self-contained:
// the CSS and the one script (it records each image's decoded size, for the browser check) are
// inline; nothing is fetched.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cvg::report {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// An image of a figure as a data URI, and the size the report drew it at (what the browser must decode).
struct Picture {
  std::string src;  // "data:image/...;base64,..."
  int width = 0, height = 0;
};

struct Figure {
  std::string title;  // also drawn in the picture; here for the alt text and the manifest
  Picture picture;
  std::string caption;  // one sentence: what to look for
  Table table;          // the numbers, beside the figure (may be empty)
};

class Page {
 public:
  explicit Page(std::string title) : title_(std::move(title)) {}
  // Raw HTML above the table of contents (the study's header).
  void header(const std::string& html) { head_ += html; }
  // Starts a section (an entry of the table of contents).
  void section(const std::string& id, const std::string& heading);
  void subheading(const std::string& text);
  void paragraph(const std::string& text);  // escaped
  void raw(const std::string& html);
  void notice(const std::string& text);  // a visible "missing" box
  void table(const Table& t, const std::string& caption = "");
  void figure(const Figure& f);
  void figures(const std::vector<Figure>& row);  // side by side (wrapping on a narrow window)
  std::string html() const;
  // [{"id", "title", "width", "height"}] for every image: what the browser must decode.
  nlohmann::json manifest() const;
  int figure_count() const { return (int)manifest_.size(); }
  // A problem's message for stderr: true the first time a message is given (a damaged file that
  // several sections read is one warning line), false after.
  bool warn_once(const std::string& message) { return warned_.insert(message).second; }
  int warning_count() const { return (int)warned_.size(); }

 private:
  std::string title_, head_, body_;
  std::vector<std::pair<std::string, std::string>> toc_;
  nlohmann::json manifest_ = nlohmann::json::array();
  std::set<std::string> warned_;
};

// Numbers for tables: "0.588", "-" for NaN; an interval "[0.563, 0.613]".
std::string num(double v, int digits = 3);
std::string interval(double lo, double hi, int digits = 3);

}  // namespace cvg::report
