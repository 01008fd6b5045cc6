#include "analysis/matched_pairs.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>

#include "analysis/npy.h"
#include "nn/io.h"

namespace cvg {

namespace {
std::string shape_str(const std::vector<size_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

NpyArray read_required(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw InputError(path + ": missing (write it with bin/correlate, or point --correlate-dir at it)");
  return read_npy(path);
}
}  // namespace

std::vector<MatchedPair> read_matched_pairs(const std::string& dir, const std::string& layer, int ca, int cb) {
  const std::string corr_path = dir + "/" + layer + "/between_0_1.npy";
  const std::string match_path = dir + "/" + layer + "/bipartite_0_1.npy";
  NpyArray corr = read_required(corr_path), match = read_required(match_path);
  const std::vector<size_t> want_corr = {(size_t)ca, (size_t)cb}, want_match = {(size_t)ca};
  if (corr.dtype != "<f8" && corr.dtype != "<f4") throw InputError(corr_path + ": dtype " + corr.dtype + ", expected float64");
  if (corr.shape != want_corr)
    throw InputError(corr_path + ": shape " + shape_str(corr.shape) + ", but the layer has " + std::to_string(ca) + " and " +
                     std::to_string(cb) + " units: expected " + shape_str(want_corr));
  if (match.dtype != "<i8" && match.dtype != "<i4") throw InputError(match_path + ": dtype " + match.dtype + ", expected int64");
  if (match.shape != want_match)
    throw InputError(match_path + ": shape " + shape_str(match.shape) + ", expected " + shape_str(want_match));
  std::vector<double> c = corr.to_double(), m = match.to_double();
  std::vector<char> used(cb, 0);
  std::vector<MatchedPair> pairs;
  for (int i = 0; i < ca; ++i) {
    if (m[i] < 0) continue;
    const long long j = (long long)m[i];
    if (j >= cb) throw InputError(match_path + ": row " + std::to_string(i) + " is assigned column " + std::to_string(j) + " of " + std::to_string(cb));
    if (used[j]++) throw InputError(match_path + ": column " + std::to_string(j) + " is assigned twice (not one-to-one)");
    pairs.push_back({i, (int)j, c[(size_t)i * cb + j]});
  }
  // NaN correlations (none expected: correlate guards zero variance) sort last.
  std::stable_sort(pairs.begin(), pairs.end(), [](const MatchedPair& x, const MatchedPair& y) {
    if (std::isnan(y.correlation)) return !std::isnan(x.correlation);
    return x.correlation > y.correlation;
  });
  return pairs;
}

}  // namespace cvg
