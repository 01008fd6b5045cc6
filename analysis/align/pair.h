// The second moments of two nets' units in one layer, as the alignment analyses need them: the
// covariance and correlation blocks of the joint matrix over the units that vary. Everything in
// bin/align starts here, from the Moments that bin/correlate stores (analysis/stats/moments_io.h).
#pragma once
#include <vector>

#include "analysis/stats/moments.h"

namespace cvg {

struct PairMoments {
  int units_a = 0, units_b = 0;       // all units of each net
  std::vector<int> valid_a, valid_b;  // the units that vary (indices into all units), ascending
  std::vector<int> zero_a, zero_b;    // the zero-variance units, left out of every analysis
  int na() const { return (int)valid_a.size(); }
  int nb() const { return (int)valid_b.size(); }
  // Over the valid units only, row-major, population normalisation (divisor N):
  std::vector<double> cov_aa, cov_bb;    // [na*na], [nb*nb]
  std::vector<double> cov_ab;            // [na*nb]
  std::vector<double> corr_aa, corr_bb;  // diagonal exactly 1
  std::vector<double> corr_ab;
  std::vector<double> std_a, std_b;
  double count = 0;
};

// Nets a and b of `m` (a != b; a > b gives the transposed view of the stored pair). Zero-variance
// units are the ones finalize() reports. Throws std::logic_error for bad net numbers.
PairMoments pair_moments(const Moments& m, int a, int b);

// The joint correlation matrix [na + nb]^2 of the valid units, A's units first.
std::vector<double> joint_correlation(const PairMoments& pm);

}  // namespace cvg
