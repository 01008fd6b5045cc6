#include "analysis/report/study.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "base/io.h"

namespace cvg::report {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string last_component(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// A JSON file, or null with the reason in `why`.
json read_json(const std::string& path, std::string& why) {
  if (!file_exists(path)) {
    why = path + ": missing";
    return nullptr;
  }
  const std::vector<char> b = read_file(path);
  json j = json::parse(b.begin(), b.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    why = path + ": not valid JSON (damaged or truncated)";
    return nullptr;
  }
  return j;
}

RunFolder load_run(const std::string& dir, Study& s) {
  RunFolder r{dir, last_component(dir)};
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    s.problem(Part::Nets, "", dir + ": no such run folder");
    return r;
  }
  const std::string log = dir + "/log.jsonl";
  if (!file_exists(log)) {
    s.problem(Part::Nets, "", log + ": missing, so the test accuracy of " + r.name + " is not shown");
    return r;
  }
  const std::vector<char> b = read_file(log);
  std::istringstream lines(std::string(b.begin(), b.end()));
  std::string line;
  while (std::getline(lines, line)) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("test_top1") && j["test_top1"].is_number())
      r.test_top1 = j["test_top1"].get<double>(), r.epoch = j.value("epoch", NAN);
  }
  return r;
}

void load_correlate(const std::string& dir, Study& s) {
  try {
    s.corr = read_correlate_summary(dir);
  } catch (const InputError& e) {
    s.problem(Part::Matching, "", std::string("the correlate output cannot be read: ") + e.what());
    return;
  }
  for (const std::string& layer : s.corr->layers) {
    try {
      check_correlate_layer(*s.corr, layer);
      s.layers.push_back(layer);
    } catch (const InputError& e) {
      s.problem(Part::Layers, layer, e.what());
    }
  }
}

void load_align(const std::string& dir, Study& s) {
  s.align_dir = dir;
  if (dir.empty()) {
    for (Part p : {Part::Sparse, Part::Groups, Part::Scores})
      s.problem(p, "", "no --align-dir given: run bin/align and pass its --out");
    return;
  }
  std::string why;
  s.align = read_json(dir + "/summary.json", why);
  if (s.align.is_null()) {
    for (Part p : {Part::Sparse, Part::Groups, Part::Scores}) s.problem(p, "", "bin/align's output: " + why);
    return;
  }
  if (!s.align.contains("layers") || !s.align["layers"].is_array()) {
    for (Part p : {Part::Sparse, Part::Groups, Part::Scores}) s.problem(p, "", dir + "/summary.json: no layers");
    s.align = nullptr;
  }
}

// A bin/visualize sidecar's nets (net_a, net_b: name, seed, iteration) that are not in the correlate
// output, as "net_a tiny-seed7 (seed 7, iteration 20)"; empty when both are (or no correlate output was read).
std::string foreign_nets(const json& doc, const Study& s) {
  if (!s.corr) return "";
  std::string out;
  for (const char* side : {"net_a", "net_b"}) {
    const json& n = doc.contains(side) && doc[side].is_object() ? doc[side] : json::object();
    const json name = n.value("name", json()), seed = n.value("seed", json()), iteration = n.value("iteration", json());
    const bool known =
        name.is_string() && seed.is_number_unsigned() && iteration.is_number_integer() &&
        std::any_of(s.corr->nets.begin(), s.corr->nets.end(), [&](const NetRecord& r) {
          return r.name == name.get<std::string>() && r.seed == seed.get<uint64_t>() && r.iteration == iteration.get<long long>();
        });
    if (!known)
      out += (out.empty() ? "" : " and ") + std::string(side) + " " + (name.is_string() ? name.get<std::string>() : "?") +
             " (seed " + seed.dump() + ", iteration " + iteration.dump() + ")";
  }
  return out;
}

void load_vis(const std::string& dir, Study& s) {
  if (dir.empty()) {
    s.problem(Part::Montages, "", "no --vis-dir given: run bin/visualize and pass its --out");
    return;
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    s.problem(Part::Montages, "", dir + ": no such folder (expected bin/visualize's --out)");
    return;
  }
  std::vector<std::string> layers;
  for (const auto& e : fs::directory_iterator(dir, ec))  // not a running (or killed) bin/visualize's partial folder
    if (e.is_directory() && e.path().filename().string().find(".partial-") == std::string::npos)
      layers.push_back(e.path().filename().string());
  std::sort(layers.begin(), layers.end());
  for (const std::string& layer : layers) {
    for (const char* mode : {"deconv", "guided", "gradient"}) {
      const std::string base = dir + "/" + layer + "/";
      if (!file_exists(base + "vis_" + mode + ".json")) continue;
      std::string why;
      VisLayer v;
      v.layer = layer, v.mode = mode, v.doc = read_json(base + "vis_" + mode + ".json", why);
      if (v.doc.is_null()) {
        s.problem(Part::Montages, layer, why);
        continue;
      }
      if (const std::string other = foreign_nets(v.doc, s); !other.empty()) {
        s.problem(
            Part::Montages, layer,
            base + "vis_" + mode + ".json: shows " + other +
                ", not among the correlate output's nets (by name, seed and iteration); run bin/visualize on this study's runs");
        continue;
      }
      // Only the figures the sidecar lists: a PNG it does not list is another run's, left in the folder.
      for (auto [which, path] : {std::pair{"best", &v.best_png}, std::pair{"worst", &v.worst_png}}) {
        if (!v.doc.contains(which) || !v.doc[which].is_array() || v.doc[which].empty()) continue;
        const std::string png = base + which + "_" + mode + ".png";
        if (file_exists(png))
          *path = png;
        else
          s.problem(Part::Montages, layer, png + ": missing, though vis_" + std::string(mode) + ".json lists its pairs");
      }
      s.vis.push_back(std::move(v));
      break;
    }
  }
  const bool said = std::any_of(s.problems.begin(), s.problems.end(), [](const Problem& p) { return p.part == Part::Montages; });
  if (s.vis.empty() && !said)
    s.problem(Part::Montages, "", dir + ": no layer folder with a vis_<mode>.json (not bin/visualize's output?)");
}

}  // namespace

std::vector<std::string> Study::problems_of(Part p, const std::string& layer) const {
  std::vector<std::string> out;
  for (const Problem& x : problems)
    if (x.part == p && (x.layer.empty() || x.layer == layer)) out.push_back(x.message);
  return out;
}

bool Study::layer_ok(const std::string& layer) const { return std::find(layers.begin(), layers.end(), layer) != layers.end(); }

const json* Study::align_layer(const std::string& layer) const {
  if (align.is_null()) return nullptr;
  for (const json& l : align["layers"])
    if (l.value("layer", "") == layer) return &l;
  return nullptr;
}

std::string Study::align_pair_dir(const std::string& layer, int p, int q) const {
  return align_dir + "/" + layer + "/pair_" + std::to_string(p) + "_" + std::to_string(q);
}

Study load_study(const StudyPaths& paths) {
  Study s;
  for (const std::string& r : paths.runs) s.runs.push_back(load_run(r, s));
  load_correlate(paths.correlate_dir, s);
  load_align(paths.align_dir, s);
  load_vis(paths.vis_dir, s);
  return s;
}

std::string net_label(const Study& s, int net) {
  if (!s.corr || net < 0 || net >= (int)s.corr->nets.size()) return "net " + std::to_string(net);
  const NetRecord& r = s.corr->nets[net];
  return r.name + " (seed " + std::to_string(r.seed) + ")";
}

}  // namespace cvg::report
