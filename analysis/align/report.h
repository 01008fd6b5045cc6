// bin/align's work on one pair of nets of one layer, from the moments bin/correlate stored: sparse
// prediction both ways, the global scores and the spectral groups, as one result struct that the
// tool prints; write_pair_report() writes its files (docs/OUTPUTS.md: align's pair_<p>_<q>/) and
// gives its entry of summary.json.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/align/lasso.h"
#include "analysis/align/pair.h"
#include "analysis/align/scores.h"
#include "analysis/align/spectral.h"
#include "base/png.h"

namespace cvg {

struct AlignOptions {
  SparsePredictionOptions lasso;
  SpectralOptions spectral;
  long long lasso_max_units = 1024;  // layers with more valid units skip the Lasso (cost ~ units^3)
};

// One direction of the sparse prediction: the target net's units from all of the source net's.
struct PredictionDirection {
  std::string label;      // "seed2<-seed1": target <- source, by the nets' names
  std::string file_stem;  // "lasso_1_from_0": target and source by their indices in the output
  SparsePrediction sp;
  double median_inputs = 0, mean_inputs = 0;  // of sp.units_for_fraction (NaN without targets)
  int at_most_4 = 0;                          // targets reaching the fraction with <= 4 inputs
  int unconverged = 0;                        // fits stopped at the sweep limit, over all penalties
};

struct AlignPairReport {
  int p = 0, q = 1;  // net indices in the correlate output: A = p, B = q
  std::string net_a, net_b;
  PairMoments pm;                               // its matrices are released once the analyses are done
  // Why the pair has no analyses (a net without a unit that varies in this layer), else empty.
  std::string skipped;
  bool lasso_skipped = false;                   // more units than AlignOptions::lasso_max_units
  std::vector<PredictionDirection> directions;  // B<-A, then A<-B (none when skipped)
  GlobalScores scores;
  int n = 0;                  // joint units (valid units of A, then of B)
  std::vector<double> joint;  // [n * n] joint correlation matrix
  SpectralGroups groups;
  std::vector<int> cuts;  // cumulative group sizes: the lines of the grouped heatmap
  int single_units = 0;   // groups of one unit
};

// Nets p < q of moments `m` (of one layer), called net_a and net_b.
AlignPairReport align_pair(const Moments& m, int p, int q, const std::string& net_a, const std::string& net_b,
                           const AlignOptions& opt);

// Writes the pair's files into `dir` (units_a/b.npy, lasso_*.npy, cca.npy, svcca.npy, joint*.png,
// joint_corr.npy, groups_*.npy) and returns its entry of summary.json, whose "files" name them under
// `shown` (the folder as the reader finds it: <layer>/pair_<p>_<q>, relative to the output, not the
// partial folder being written).
nlohmann::json write_pair_report(const AlignPairReport& r, const std::string& dir, const std::string& shown);

// The joint correlation matrix as a labelled heatmap (analysis/plot: -1 blue, 0 white, 1 red, a colour
// bar), black lines at `cuts`.
Image joint_heatmap(const std::vector<double>& J, int n, const std::vector<int>& cuts, const std::string& title);

}  // namespace cvg
