// Raw moments on disk, so later analyses (bin/align) need no pass over the data. One folder per
// layer, float64 .npy (numpy reads them directly), nets numbered 0..K-1 in bin/correlate's order:
//   count.npy [1]              samples per unit
//   shift_<k>.npy [c_k]        the per-unit reference r subtracted before the products
//   sum_<k>.npy [c_k]          sum (x - r)
//   gram_<k>.npy [c_k, c_k]    sum (x - r)(x - r)^T                      (within net k)
//   cross_<p>_<q>.npy [c_p, c_q] sum (a - r_a)(b - r_b)^T, p < q          (between nets p and q)
// mean = r + sum/N; covariance = gram/N - (sum/N)(sum/N)^T.
#pragma once
#include <string>

#include "analysis/stats/moments.h"

namespace cvg {

void save_moments(const std::string& dir, const Moments& m);
// Throws InputError naming the folder or file when something is missing or inconsistent.
Moments load_moments(const std::string& dir);

// The moments per block of images (bootstrap), in one folder with a leading block axis: count.npy
// [B], sum_<k>.npy [B, c_k], gram_<k>.npy [B, c_k, c_k], cross_<p>_<q>.npy [B, c_p, c_q]. Every
// block has the reference shift of the total moments (its shift_<k>.npy is not repeated here).
void save_block_moments(const std::string& dir, const std::vector<Moments>& blocks);
// `total`: the layer's moments (units and shift). An absent folder gives no blocks; a damaged one
// throws InputError.
std::vector<Moments> load_block_moments(const std::string& dir, const Moments& total);

}  // namespace cvg
