// The result folders bin/report draws, loaded into one model: the run folders (test accuracy from
// log.jsonl), bin/correlate's output, and optionally bin/align's and bin/visualize's. Loading never
// throws for a missing or damaged part: it records what is missing (`problems`, by section), so the
// page can say so where the part would have been, and the tool prints one line per problem.
#pragma once
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats/correlate_io.h"

namespace cvg::report {

// Sections of the page; each problem belongs to one.
enum class Part { Nets, Matching, Layers, MutualInfo, Montages, Sparse, Groups, Scores, Training, Other };

struct Problem {
  Part part;
  std::string layer;  // empty: the whole part
  std::string message;
};

struct RunFolder {
  std::string dir, name;   // name: the folder's last component, as bin/correlate names it
  double test_top1 = NAN;  // last test accuracy in log.jsonl (0..1), NaN when none
  double epoch = NAN;      // at that line
};

// bin/visualize's output of one layer: its sidecar and figures (mode chosen by the files found).
struct VisLayer {
  std::string layer, mode;
  nlohmann::json doc;               // vis_<mode>.json
  std::string best_png, worst_png;  // paths, empty when absent
};

struct Study {
  std::vector<RunFolder> runs;
  std::optional<CorrelateOutput> corr;  // summary.json read (layers' files not yet checked)
  std::vector<std::string> layers;      // layers whose files are all there (check_correlate_layer)
  std::string align_dir;
  nlohmann::json align;  // bin/align's summary.json, null when not given or unreadable
  std::vector<VisLayer> vis;
  std::vector<Problem> problems;

  void problem(Part p, const std::string& layer, const std::string& message) { problems.push_back({p, layer, message}); }
  // The problems of `p` (and, when given, of `layer` or the whole part).
  std::vector<std::string> problems_of(Part p, const std::string& layer = "") const;
  bool layer_ok(const std::string& layer) const;
  const nlohmann::json* align_layer(const std::string& layer) const;         // its entry in align's summary, or null
  std::string align_pair_dir(const std::string& layer, int p, int q) const;  // OUT/<layer>/pair_<p>_<q>
};

struct StudyPaths {
  std::vector<std::string> runs;
  std::string correlate_dir, align_dir, vis_dir;  // align and vis may be empty (not given)
};

Study load_study(const StudyPaths& paths);

// A net's display name with its seed: "alexnet-mini-seed1 (seed 1)".
std::string net_label(const Study& s, int net);

}  // namespace cvg::report
