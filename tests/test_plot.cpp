// The plotting module (analysis/plot): ticks, axis mapping, text placement, colour scales, heatmaps,
// SVG charts and base64, on small fixed inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <vector>

#include "analysis/plot/font.h"
#include "analysis/plot/heatmap.h"
#include "analysis/plot/svg_chart.h"
#include "analysis/plot/ticks.h"
#include "analysis/plot/utf8.h"
#include "base/errors.h"
#include "tests/check.h"

using namespace cvg;
using namespace cvg::plot;

namespace {
bool is_white(const Image& img, int x, int y) {
  const Color c = pixel(img, x, y);
  return c.r == 255 && c.g == 255 && c.b == 255;
}
// The bounding box of the non-white pixels ({0,0,0,0} when none).
Box ink(const Image& img) {
  Box b{img.w, img.h, -1, -1};
  for (int y = 0; y < img.h; ++y)
    for (int x = 0; x < img.w; ++x)
      if (!is_white(img, x, y))
        b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y), b.x1 = std::max(b.x1, x + 1), b.y1 = std::max(b.y1, y + 1);
  return b.x1 < 0 ? Box{} : b;
}
bool same(Color a, Color b) { return a.r == b.r && a.g == b.g && a.b == b.b; }
// Some ink, all of it inside the box.
void check_inside(const Box& k, const Box& b) {
  CHECK(k.x1 > k.x0);
  CHECK(k.y1 > k.y0);
  CHECK(k.x0 >= b.x0);
  CHECK(k.x1 <= b.x1);
  CHECK(k.y0 >= b.y0);
  CHECK(k.y1 <= b.y1);
}
}  // namespace

TEST_CASE("plot: nice ticks on fixed ranges") {
  Ticks t = nice_ticks(0, 1);
  REQUIRE(t.values.size() == 6);
  for (int i = 0; i <= 5; ++i) CHECK(t.values[i] == i / 5.0);  // 0, 0.2, ... 1 exactly as decimals parse
  CHECK(t.labels == std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"});
  CHECK(t.step == doctest::Approx(0.2));
  // Inside [0.13, 0.87]: a step of 0.1 would give 7 ticks, so 0.2.
  t = nice_ticks(0.13, 0.87);
  CHECK(t.labels == std::vector<std::string>{"0.2", "0.4", "0.6", "0.8"});
  t = nice_ticks(-3.7, 1.2);
  CHECK(t.labels == std::vector<std::string>{"-3", "-2", "-1", "0", "1"});
  t = nice_ticks(-0.05, 0.05, 5);  // no "-0.00" at zero
  CHECK(t.labels == std::vector<std::string>{"-0.04", "-0.02", "0.00", "0.02", "0.04"});
  t = nice_ticks(0, 4096);
  CHECK(t.labels == std::vector<std::string>{"0", "1000", "2000", "3000", "4000"});
  t = nice_ticks(1, 0);  // reversed ends are swapped
  CHECK(t.values.size() == 6);
  CHECK(nice_ticks(0.5, 0.5).values == std::vector<double>{0.5});
  double lo = 0.13, hi = 0.87;
  nice_range(lo, hi);
  CHECK(lo == 0.0);
  CHECK(hi == 1.0);
  lo = -0.31, hi = 0.96;  // step 0.2 would need -0.4 .. 1.0, eight ticks: 0.5
  nice_range(lo, hi);
  CHECK(lo == -0.5);
  CHECK(hi == 1.0);
  CHECK(format_number(-0.0001, 2) == "0.00");
  CHECK(format_number(2.5, 1) == "2.5");
}

TEST_CASE("plot: log ticks") {
  Ticks t = log_ticks(1e-4, 1);  // five decades: powers of ten only
  CHECK(t.labels == std::vector<std::string>{"0.0001", "0.001", "0.01", "0.1", "1"});
  t = log_ticks(0.1, 10);  // two decades: 1-2-5 within each
  CHECK(t.labels == std::vector<std::string>{"0.1", "0.2", "0.5", "1", "2", "5", "10"});
  t = log_ticks(1e-7, 1e-5);
  CHECK(t.labels.front() == "1e-07");
  t = log_ticks(3, 4);  // no tick inside: the two ends
  CHECK(t.values == std::vector<double>{3, 4});
  CHECK(log_ticks(0, 1).values.empty());
}

TEST_CASE("plot: axis mapping endpoints") {
  const AxisMap x{0, 1, 50, 450};
  CHECK(x(0) == 50);
  CHECK(x(1) == 450);
  CHECK(x(0.5) == 250);
  const AxisMap y{-1, 1, 300, 20};  // pixels grow downwards
  CHECK(y(-1) == 300);
  CHECK(y(1) == 20);
  CHECK(y(0) == 160);
  const AxisMap lx{1e-3, 10, 0, 400, true};
  CHECK(lx(1e-3) == doctest::Approx(0));
  CHECK(lx(10) == doctest::Approx(400));
  CHECK(lx(1e-2) == doctest::Approx(100));  // one decade of four
}

TEST_CASE("plot: text is measured, placed and clipped to its box") {
  CHECK(text_width("Hello", 13) > 20);
  CHECK(text_width("Hello", 26) > text_width("Hello", 13) * 3 / 2);
  CHECK(text_width("a\nlonger line", 13) == text_width("longer line", 13));
  CHECK(text_height("a\nb", 13) == 2 * line_height(13));
  CHECK(text_width("", 13) == 0);

  // Ink lies inside the returned box (descenders, a wide W), and the box is text_box's.
  for (Anchor a : {Anchor::Left, Anchor::Centre, Anchor::Right}) {
    Image img(200, 60);
    TextStyle st;
    st.size = 16, st.anchor = a;
    const Box b = draw_text(img, 100, 10, "Wgjy|(r = 0.91)", st);
    const Box t = text_box(100, 10, "Wgjy|(r = 0.91)", st);
    CHECK(b.x0 == t.x0);
    CHECK(b.x1 == t.x1);
    CHECK(b.height() == line_height(16));
    const Box k = ink(img);
    check_inside(k, b);
    // The anchor: the ink starts, is centred on or ends at x = 100 within 2 px (side bearings).
    const double at = a == Anchor::Left ? k.x0 : a == Anchor::Right ? k.x1 : (k.x0 + k.x1) / 2.0;
    CHECK(std::fabs(at - 100) <= 2);
  }
  // A centred label of several lines: each line centred on its own.
  Image two(200, 60);
  TextStyle c;
  c.anchor = Anchor::Centre;
  draw_text(two, 100, 5, "x\nwide line here", c);
  Box top{200, 0, 0, 0};
  for (int y = 5; y < 5 + line_height(13); ++y)
    for (int x = 0; x < 200; ++x)
      if (!is_white(two, x, y)) top.x0 = std::min(top.x0, x), top.x1 = std::max(top.x1, x + 1);
  CHECK(std::fabs((top.x0 + top.x1) / 2.0 - 100) <= 2);

  // A background box: filled with the pad around the text box, nothing drawn outside it.
  Image bg(120, 40, 0);
  TextStyle s;
  s.background = true, s.pad = 3;
  const Box b = draw_text(bg, 10, 10, "Label", s);
  CHECK(same(pixel(bg, b.x0 - 3, b.y0 - 3), kWhite));
  CHECK(same(pixel(bg, b.x1 + 2, b.y1 + 2), kWhite));
  CHECK(same(pixel(bg, b.x0 - 4, b.y0), Color{0, 0, 0}));
  CHECK(same(pixel(bg, b.x1 + 3, b.y1), Color{0, 0, 0}));

  // Turned text: the box's sides swap, the ink stays inside, and it reads upwards from y (Left).
  Image v(60, 200);
  const Box vb = draw_text_vertical(v, 10, 150, "conv1 units", {});
  CHECK(vb.width() == line_height(13));
  CHECK(vb.height() == text_width("conv1 units", 13));
  CHECK(vb.y1 == 150);
  check_inside(ink(v), vb);
  // Upwards: the first letter at the bottom, the baseline on the right (the letters' tops face left).
  Image up(60, 200);
  const Box ub = draw_text_vertical(up, 10, 150, "W.      ", {});
  const Box uk = ink(up);
  check_inside(uk, ub);
  CHECK(uk.y0 > (ub.y0 + ub.y1) / 2);
  int left_ink = 0, right_ink = 0;  // the '.' sits on the baseline
  for (int y = uk.y0; y < uk.y1; ++y)
    for (int x = ub.x0; x < ub.x1; ++x)
      if (!is_white(up, x, y)) (x < (ub.x0 + ub.x1) / 2 ? left_ink : right_ink) += y < 150 - text_width("W", 13);
  CHECK(right_ink > 0);
  CHECK(left_ink == 0);
  // Cut short to a width, with an ellipsis; unchanged when it fits.
  const std::string name = "alexnet-mini-seed1/ckpt-000000500";
  CHECK(fit_text(name, 13, 1000) == name);
  const std::string cut = fit_text(name, 13, 80);
  CHECK(text_width(cut, 13) <= 80);
  const std::string longer = name.substr(0, cut.size() - 3 + 1) + "\xe2\x80\xa6";
  CHECK(text_width(longer, 13) > 80);  // as much as fits: one more letter would not
  CHECK(cut.rfind("alexnet", 0) == 0);
  CHECK(cut.substr(cut.size() - 3) == "\xe2\x80\xa6");
  CHECK(fit_text(name, 13, 2) == "");
  // Clipped to the image: no crash, no write outside.
  Image small(10, 10);
  draw_text(small, -30, -5, "clipped text", {});
  draw_text_vertical(small, 5, 300, "clipped text", {});
}

TEST_CASE("plot: a missing or broken font file is one clear error") {
  test::ScratchDir scratch("plot");
  const std::string bad = scratch / "broken.ttf";
  { std::ofstream(bad) << "not a font at all, just some bytes"; }
  for (const std::string& path : {std::string("/nonexistent/DejaVuSans.ttf"), bad}) {
    std::string msg;
    try {
      load_font(path);
    } catch (const InputError& e) {
      msg = e.what();
    }
    CHECK(msg == path + ": cannot read the font (install Debian's fonts-dejavu-core: scripts/deps.sh)");
  }
  CHECK(text_width("still works", 13) > 0);  // a failed load keeps the font in use
  load_font();
}

TEST_CASE("plot: colour scales") {
  CHECK(same(scale_color(-1, -1, 1), Color{33, 102, 172}));  // blue end
  CHECK(same(scale_color(0, -1, 1), kWhite));
  CHECK(same(scale_color(1, -1, 1), Color{178, 24, 43}));  // red end
  CHECK(same(scale_color(7, -1, 1), Color{178, 24, 43}));  // clamped
  CHECK(same(scale_color(NAN, -1, 1), kGrey));
  // Monotone: from -1 to 0 red and green rise towards white; from 0 to 1 green and blue fall.
  Color prev = scale_color(-1, -1, 1);
  for (int i = -99; i <= 100; ++i) {
    const Color c = scale_color(i / 100.0, -1, 1);
    if (i <= 0) {
      CHECK(c.r >= prev.r);
      CHECK(c.g >= prev.g);
      CHECK(c.b >= prev.b);
    } else {
      CHECK(c.g <= prev.g);
      CHECK(c.b <= prev.b);
      CHECK(c.r <= prev.r);
    }
    CHECK((i >= 0 ? c.r >= c.b : c.b >= c.r));  // red side redder, blue side bluer
    prev = c;
  }
  // Sequential: white at vmin, darker all the way.
  CHECK(same(scale_color(0, 0, 2, ColorScale::Sequential), kWhite));
  int last = 3 * 255 + 1;
  for (int i = 0; i <= 20; ++i) {
    const Color c = scale_color(i / 10.0, 0, 2, ColorScale::Sequential);
    CHECK(c.r + c.g + c.b < last);
    last = c.r + c.g + c.b;
  }
}

TEST_CASE("plot: heatmap size, cells, borders and block averaging") {
  const double m[12] = {-1, 0, 1, 0.5, -0.5, 0, 1, 1, 1, -1, -1, -1};  // 4 x 3
  HeatmapSpec spec;
  spec.title = "between-net correlation";
  spec.x_label = "net B unit", spec.y_label = "net A unit", spec.colorbar_label = "correlation";
  spec.min_px = 40, spec.max_px = 100;
  spec.row_borders = {2};
  Heatmap h = render_heatmap(m, 4, 3, spec);
  CHECK(h.cell == 10);  // ceil(40 / 4), within 100 / 4
  CHECK(h.block == 1);
  CHECK(h.note.empty());
  CHECK(h.matrix.width() == 30);
  CHECK(h.matrix.height() == 40);
  CHECK(h.image.w > h.matrix.x1 + 16);  // the colour bar on the right
  CHECK(h.image.h > h.matrix.y1);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) {
      if (r == 2) continue;  // the border line crosses row 2's first pixel row, not its middle
      CHECK(same(pixel(h.image, h.matrix.x0 + c * 10 + 5, h.matrix.y0 + r * 10 + 5), scale_color(m[r * 3 + c], -1, 1)));
    }
  for (int x = h.matrix.x0; x < h.matrix.x1; ++x) CHECK(same(pixel(h.image, x, h.matrix.y0 + 20), kBlack));
  CHECK(same(pixel(h.image, h.matrix.x0 + 5, h.matrix.y0 + 19), scale_color(0.5, -1, 1)));  // row 1 untouched
  // The outline and labels: text drawn left of, above and below the matrix.
  auto dark = [&](const Box& b) {
    int n = 0;
    for (int y = std::max(0, b.y0); y < std::min(h.image.h, b.y1); ++y)
      for (int x = std::max(0, b.x0); x < std::min(h.image.w, b.x1); ++x) n += pixel(h.image, x, y).r < 100;
    return n;
  };
  CHECK(dark({0, 0, h.image.w, h.matrix.y0 - 2}) > 30);              // the title
  CHECK(dark({0, h.matrix.y0, h.matrix.x0 - 6, h.matrix.y1}) > 30);  // row ticks and y label
  CHECK(dark({0, h.matrix.y1 + 6, h.image.w, h.image.h}) > 30);      // column ticks and x label

  // Too large: 1000 x 1000 into 100 px by 10 x 10 blocks, each the mean of its entries. Columns
  // alternate +1 for five, -1 for five: every block averages to 0 (white), where sampling would not.
  std::vector<double> big(1000 * 1000);
  for (int r = 0; r < 1000; ++r)
    for (int c = 0; c < 1000; ++c) big[(size_t)r * 1000 + c] = c % 10 < 5 ? 1 : -1;
  big[0] = NAN;  // left out of its block's mean
  HeatmapSpec s2;
  s2.max_px = 100;
  Heatmap hb = render_heatmap(big.data(), 1000, 1000, s2);
  CHECK(hb.block == 10);
  CHECK(hb.matrix.width() == 100);
  CHECK(hb.matrix.height() == 100);
  CHECK(hb.note == "each pixel is the mean of a 10 x 10 block of entries");
  for (int y = 0; y < 100; y += 9)
    for (int x = 1; x < 100; x += 9) CHECK(same(pixel(hb.image, hb.matrix.x0 + x, hb.matrix.y0 + y), kWhite));
  // Block (0, 0) lost one +1: its mean is below 0, a faint blue.
  const Color first = pixel(hb.image, hb.matrix.x0, hb.matrix.y0);
  CHECK(first.b > first.r);
  CHECK_THROWS_AS(render_heatmap(m, 0, 3, spec), std::invalid_argument);
}

namespace {
// Tags balance (each opened one closed in order), and no raw '<' or bare '&' in text.
bool well_formed(const std::string& s, std::string& why) {
  std::vector<std::string> open;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      const std::string ent = semi == std::string::npos ? "" : s.substr(i, semi - i + 1);
      if (!std::regex_match(ent, std::regex("&(amp|lt|gt|quot|#[0-9]+);"))) return why = "bare & at " + std::to_string(i), false;
      i = semi + 1;
      continue;
    }
    if (s[i] != '<') {
      ++i;
      continue;
    }
    const size_t end = s.find('>', i);
    if (end == std::string::npos) return why = "unclosed tag", false;
    const std::string tag = s.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return why = "'<' inside a tag: " + tag, false;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return why = "mismatched </" + tag.substr(1) + ">", false;
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end + 1;
  }
  if (!open.empty()) return why = "<" + open.back() + "> never closed", false;
  return true;
}
Series make_series(const std::string& name, SeriesKind kind, std::vector<double> y, std::vector<double> x = {}) {
  Series s;
  s.name = name, s.kind = kind, s.y = std::move(y), s.x = std::move(x);
  return s;
}
double attr(const std::string& element, const std::string& name) {
  std::smatch mm;
  if (!std::regex_search(element, mm, std::regex(" " + name + "=\"([-0-9.]+)\""))) return NAN;
  return std::stod(mm[1]);
}
}  // namespace

TEST_CASE("plot: SVG charts are well-formed, escaped and labelled, legend outside the plot") {
  Chart c;
  c.title = "Matched <correlation> & baselines";
  c.x_label = "layer", c.y_label = "mean correlation";
  c.caption = "Look for: conv1 matches best & fc layers converge above the null.";
  c.categories = {"conv1", "conv2", "conv3"};
  c.y_min = 0, c.y_max = 1;
  Series semi = make_series("semi-matching", SeriesKind::LineMarkers, {0.59, 0.37, 0.33});
  semi.lo = {0.56, 0.34, 0.31}, semi.hi = {0.61, 0.38, 0.34};
  Series rnd = make_series("random matching", SeriesKind::Line, {0.05, 0.02, 0.01});
  rnd.dashed = true;
  Series paper = make_series("paper (CaffeNet)", SeriesKind::Markers, {0.66, 0.51, NAN});
  paper.marker = MarkerShape::Diamond;
  Series bars = make_series("bipartite", SeriesKind::Bars, {0.52, 0.31, 0.29});
  c.series = {semi, rnd, paper, bars};
  const std::string svg = render_svg(c);
  std::string why;
  CHECK_MESSAGE(well_formed(svg, why), why);
  CHECK(svg.rfind("<svg ", 0) == 0);
  CHECK(svg.find("Matched &lt;correlation&gt; &amp; baselines") != std::string::npos);
  CHECK(svg.find("<correlation>") == std::string::npos);
  for (const char* s : {"semi-matching", "random matching", "paper (CaffeNet)", "bipartite", "mean correlation", ">layer<",
                        ">conv2<", "stroke-dasharray", "font-family=\"sans-serif\"", "fc layers converge"})
    CHECK_MESSAGE(svg.find(s) != std::string::npos, s);
  CHECK(svg.find("<script") == std::string::npos);
  CHECK(svg.find("http://") == svg.find("http://www.w3.org/2000/svg"));  // the namespace, nothing fetched
  // The legend entries sit right of the plot area (its clip rectangle).
  std::smatch mm;
  REQUIRE(std::regex_search(svg, mm, std::regex("<clipPath id=\"[^\"]+\"><rect [^>]+>")));
  const double right = attr(mm[0], "x") + attr(mm[0], "width");
  REQUIRE(std::regex_search(svg, mm, std::regex("<text [^>]+>random matching</text>")));
  CHECK(attr(mm[0], "x") > right);
  // The error bars of the first series: a vertical stroke from lo to hi at conv1.
  CHECK(svg.find("<path d=\"M") != std::string::npos);

  // A narrow chart puts the legend below the plot area; a log x axis prints its decades.
  Chart l;
  l.title = "loss vs L1 penalty";
  l.log_x = true;
  l.width = 300;
  l.series = {
      make_series("conv1 B<-A with a long legend name", SeriesKind::LineMarkers, {0.9, 0.7, 0.5, 0.45}, {1e-3, 1e-2, 1e-1, 1})};
  const std::string ls = render_svg(l);
  CHECK_MESSAGE(well_formed(ls, why), why);
  for (const char* s : {">0.001<", ">0.01<", ">0.1<", ">1<"}) CHECK_MESSAGE(ls.find(s) != std::string::npos, s);
  REQUIRE(std::regex_search(ls, mm, std::regex("<clipPath id=\"[^\"]+\"><rect [^>]+>")));
  const double bottom = attr(mm[0], "y") + attr(mm[0], "height");
  REQUIRE(std::regex_search(ls, mm, std::regex("<text [^>]+>conv1 B&lt;-A with a long legend name</text>")));
  CHECK(attr(mm[0], "y") > bottom);

  // A scatter (MI against correlation): one marker per finite point, plus the legend's sample.
  Chart sc;
  sc.title = "MI vs correlation";
  sc.series = {make_series("unit pairs", SeriesKind::Markers, {0.1, 0.4, NAN, 0.9, 0.2}, {0.05, 0.3, 0.5, 0.8, -0.2})};
  const std::string ss = render_svg(sc);
  CHECK_MESSAGE(well_formed(ss, why), why);
  size_t circles = 0;
  for (size_t at = ss.find("<circle"); at != std::string::npos; at = ss.find("<circle", at + 1)) ++circles;
  CHECK(circles == 4 + 1);
  CHECK(ss.find(">-0.2<") != std::string::npos);  // the x axis reaches the negative correlation

  Chart bad = l;
  bad.series[0].x[0] = 0;
  CHECK_THROWS_AS(render_svg(bad), std::invalid_argument);  // log axis, x = 0
  bad = l;
  bad.series[0].lo = {0.1};
  CHECK_THROWS_AS(render_svg(bad), std::invalid_argument);         // lo of another length
  CHECK(render_svg(Chart{}).find("</svg>") != std::string::npos);  // empty: an empty frame, no crash
}

TEST_CASE("plot: XML escaping and UTF-8") {
  CHECK(xml_escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  CHECK(xml_escape("x\x01y\tz") == "xy\tz");                      // control bytes are not XML
  CHECK(xml_escape("caf\xc3\xa9") == "caf\xc3\xa9");              // UTF-8 kept
  CHECK(xml_escape("bad \xff byte") == "bad \xef\xbf\xbd byte");  // invalid byte -> U+FFFD
  CHECK(utf8_decode("\xc3\xa9") == std::u32string{0xe9});
  CHECK(utf8_decode("\xc0\xaf") == std::u32string{0xfffd, 0xfffd});  // overlong '/'
  CHECK(utf8_decode("\xe2\x82") == std::u32string{0xfffd, 0xfffd});  // truncated
}

TEST_CASE("plot: base64 (RFC 4648 vectors) and data URIs") {
  const char* vectors[][2] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
  for (const auto& v : vectors) CHECK(base64(v[0]) == v[1]);
  CHECK(base64(std::string("\x00\xff\xfe", 3)) == "AP/+");
  const std::string uri = data_uri(Image(3, 2));
  CHECK(uri.rfind("data:image/png;base64,iVBORw0KGgo", 0) == 0);  // the PNG signature
  CHECK(uri.size() == 22 + (encode_png(Image(3, 2)).size() + 2) / 3 * 4);
  CHECK(data_uri_svg("<svg/>") == "data:image/svg+xml;base64,PHN2Zy8+");
}
