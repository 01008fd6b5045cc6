// Global similarity scores of two nets' layers from second moments alone (covariances of the
// centred activations, population normalisation). X [N x a], Y [N x b] below are the centred
// activations, C_aa = X^T X / N, C_bb = Y^T Y / N, C_ab = X^T Y / N (zero-variance units dropped).
//   linear CKA   = ||C_ab||_F^2 / (||C_aa||_F ||C_bb||_F)                         (Kornblith et al. 2019)
//   CCA          all canonical correlations: singular values of W_a^T R_ab W_b, R = correlation
//                matrices, W whitening R_aa / R_bb from their eigen-decompositions; eigen-directions
//                with eigenvalue <= rank_cut (relative to the largest) are treated as null and
//                dropped (no ridge: a rank cut keeps exactly invertible problems exact)
//   SVCCA        CCA between the top principal directions of C_aa and of C_bb that together keep
//                svcca_keep (99%) of each net's variance                           (Raghu et al. 2017)
//   PWCCA        sum_i alpha_i rho_i, alpha_i ~ sum_j |<h_i, x_j>|, h_i the i-th canonical variate
//                of the weighting net, x_j its units' centred activations          (Morcos et al. 2018)
//   Procrustes   min over orthogonal Q of ||X/|X|_F - (Y/|Y|_F) Q||_F^2
//                = 2 - 2 ||C_ab||_* / sqrt(tr C_aa tr C_bb)   (0 = same up to rotation and scale, max 2)
#pragma once
#include <vector>

#include "analysis/align/pair.h"

namespace cvg {

struct ScoreOptions {
  double rank_cut = 1e-6;    // CCA: relative eigenvalue below which a direction counts as null
  double svcca_keep = 0.99;  // SVCCA: fraction of each net's variance kept
};

struct GlobalScores {
  double cka = 0;
  std::vector<double> cca;  // canonical correlations, descending (min(rank_a, rank_b) of them)
  int cca_rank_a = 0, cca_rank_b = 0;
  double cca_mean = 0;
  std::vector<double> svcca;  // canonical correlations of the reduced representations
  int svcca_dims_a = 0, svcca_dims_b = 0;
  double svcca_mean = 0;
  double pwcca_a = 0, pwcca_b = 0;  // weights from net A's / net B's canonical variates
  double pwcca = 0;                 // Morcos et al.'s choice: the net with fewer units (A on a tie)
  double procrustes = 0;
};

// From covariances over the valid units: cov_aa [na x na], cov_bb [nb x nb], cov_ab [na x nb].
GlobalScores global_scores(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                           const std::vector<double>& cov_ab, const ScoreOptions& opt = {});
inline GlobalScores global_scores(const PairMoments& pm, const ScoreOptions& opt = {}) {
  return global_scores(pm.cov_aa, pm.na(), pm.cov_bb, pm.nb(), pm.cov_ab, opt);
}

// The five numbers of global_scores that a bootstrap interval needs (CKA, CCA mean, SVCCA mean,
// PWCCA with the weighting global_scores picks, Procrustes), the same statistics computed with less
// work: no canonical vectors or PWCCA for the other net, and CCA through Cholesky factors of R_aa,
// R_bb (whitening L^-1; any whitening gives the same canonical correlations and PWCCA weights)
// whenever every eigenvalue is provably above the rank cut (then the eigen path keeps every
// direction too), its correlations and the weighting net's vectors from the eigen-decomposition
// of the whitened cross-covariance's Gram (rho^2 to ~n eps); otherwise through the
// eigen-decompositions as in global_scores.
struct ScoreSummary {
  double cka = 0, cca_mean = 0, svcca_mean = 0, pwcca = 0, procrustes = 0;
};
ScoreSummary score_summary(const std::vector<double>& cov_aa, int na, const std::vector<double>& cov_bb, int nb,
                           const std::vector<double>& cov_ab, const ScoreOptions& opt = {});
inline ScoreSummary score_summary(const PairMoments& pm, const ScoreOptions& opt = {}) {
  return score_summary(pm.cov_aa, pm.na(), pm.cov_bb, pm.nb(), pm.cov_ab, opt);
}
// Its Cholesky part, for tests: false (outputs untouched) when a factor is not provably full rank.
bool cca_summary_cholesky(const std::vector<double>& raa, int na, const std::vector<double>& rbb, int nb,
                          const std::vector<double>& rab, const std::vector<double>& sa, const std::vector<double>& sb,
                          bool weights_from_a, const ScoreOptions& opt, double& cca_mean, double& pwcca);

}  // namespace cvg
