#include "analysis/align/report.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/plot/heatmap.h"
#include "base/npy.h"

namespace cvg {

using json = nlohmann::json;

namespace {

double median(std::vector<int> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

json nan_safe(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

PredictionDirection predict(const std::string& label, const std::string& stem, const std::vector<double>& corr_sources,
                            const std::vector<double>& cross, int S, int T, const SparsePredictionOptions& opt) {
  PredictionDirection d{label, stem, sparse_prediction(corr_sources, cross, S, T, opt)};
  const SparsePrediction& sp = d.sp;
  for (int u : sp.unconverged) d.unconverged += u;
  for (int u : sp.units_for_fraction) d.at_most_4 += u <= 4;
  d.median_inputs = median(sp.units_for_fraction);
  d.mean_inputs = T ? std::accumulate(sp.units_for_fraction.begin(), sp.units_for_fraction.end(), 0.0) / T : NAN;
  return d;
}

json direction_json(const PredictionDirection& d, const std::string& dir, const std::string& shown) {
  const SparsePrediction& sp = d.sp;
  const int P = (int)sp.penalties.size(), T = sp.targets, S = sp.sources;
  const std::string stem = dir + "/" + d.file_stem;
  std::vector<double> mse;
  std::vector<int32_t> nz;
  std::vector<float> w;
  for (int k = 0; k < P; ++k) {
    mse.insert(mse.end(), sp.mse[k].begin(), sp.mse[k].end());
    nz.insert(nz.end(), sp.nonzero[k].begin(), sp.nonzero[k].end());
    if (!sp.weights.empty()) w.insert(w.end(), sp.weights[k].begin(), sp.weights[k].end());
  }
  write_npy(stem + "_mse.npy", mse.data(), {(size_t)P, (size_t)T});
  write_npy(stem + "_nonzero.npy", nz.data(), {(size_t)P, (size_t)T});
  if (!w.empty()) write_npy(stem + "_weights.npy", w.data(), {(size_t)P, (size_t)T, (size_t)S});
  write_npy(stem + "_r2_unpenalised.npy", sp.r2_unpenalised.data(), {(size_t)T});
  write_npy(stem + "_inputs_for_fraction.npy", sp.units_for_fraction.data(), {(size_t)T});
  json per = json::array();
  for (int k = 0; k < P; ++k) {
    double worst_gap = 0;
    for (double g : sp.gap[k]) worst_gap = std::max(worst_gap, g);
    per.push_back({{"penalty", sp.penalties[k]},
                   {"mean_loss", nan_safe(sp.mean_loss(k))},
                   {"mean_normalised_mse", nan_safe(sp.mean_mse(k))},
                   {"mean_nonzero", nan_safe(sp.mean_nonzero(k))},
                   {"positive_fraction_of_nonzero", nan_safe(sp.positive_fraction(k))},
                   {"unconverged_targets", sp.unconverged[k]},
                   {"worst_duality_gap", worst_gap}});
  }
  return {{"direction", d.label},
          {"targets", T},
          {"sources", S},
          {"per_penalty", per},
          {"inputs_for_fraction",
           {{"fraction", sp.fit_fraction},
            {"median", nan_safe(d.median_inputs)},
            {"mean", nan_safe(d.mean_inputs)},
            {"at_most_4", d.at_most_4}}},
          {"files", shown + "/" + d.file_stem +
                        "_*.npy (rows: penalties as listed; targets and sources: valid units, see units_a/b.npy)"}};
}

}  // namespace

AlignPairReport align_pair(const Moments& m, int p, int q, const std::string& net_a, const std::string& net_b,
                           const AlignOptions& opt) {
  AlignPairReport r;
  r.p = p, r.q = q, r.net_a = net_a, r.net_b = net_b;
  r.pm = pair_moments(m, p, q);
  PairMoments& pm = r.pm;
  const int na = pm.na(), nb = pm.nb();
  if (na == 0 || nb == 0) {  // nothing to predict, score or group: every unit of a net is constant here
    r.skipped = (na == 0 ? net_a : net_b) + " has no unit that varies in this layer: all " +
                std::to_string(na == 0 ? pm.zero_a.size() : pm.zero_b.size()) + " are constant";
    return r;
  }
  // Few-to-one, both directions.
  r.lasso_skipped = std::max(na, nb) > opt.lasso_max_units;
  if (!r.lasso_skipped) {
    std::vector<double> ba((size_t)nb * na);
    for (int i = 0; i < na; ++i)
      for (int j = 0; j < nb; ++j) ba[(size_t)j * na + i] = pm.corr_ab[(size_t)i * nb + j];
    const std::string P = std::to_string(p), Q = std::to_string(q);
    r.directions.push_back(predict(net_b + "<-" + net_a, "lasso_" + Q + "_from_" + P, pm.corr_aa, pm.corr_ab, na, nb, opt.lasso));
    r.directions.push_back(predict(net_a + "<-" + net_b, "lasso_" + P + "_from_" + Q, pm.corr_bb, ba, nb, na, opt.lasso));
  }
  r.scores = global_scores(pm);
  // Many-to-many groups.
  r.joint = joint_correlation(pm);
  r.n = na + nb;
  r.groups = spectral_groups(r.joint, r.n, na, opt.spectral);
  int at = 0;
  for (const UnitGroup& G : r.groups.groups)
    at += (int)G.nodes.size(), r.cuts.push_back(at), r.single_units += G.nodes.size() == 1;
  // The report keeps the unit lists; the covariance blocks are no longer needed.
  for (std::vector<double>* v : {&pm.cov_aa, &pm.cov_bb, &pm.cov_ab, &pm.corr_aa, &pm.corr_bb, &pm.corr_ab})
    std::vector<double>().swap(*v);
  return r;
}

json write_pair_report(const AlignPairReport& r, const std::string& dir, const std::string& shown) {
  const PairMoments& pm = r.pm;
  json pj = {{"nets", {r.p, r.q}}, {"net_a", r.net_a}, {"net_b", r.net_b}};
  pj["zero_variance_units"] = {pm.zero_a, pm.zero_b};
  if (!r.skipped.empty()) {
    pj["skipped"] = r.skipped;
    return pj;
  }
  write_npy(dir + "/units_a.npy", pm.valid_a.data(), {pm.valid_a.size()});
  write_npy(dir + "/units_b.npy", pm.valid_b.data(), {pm.valid_b.size()});
  json sj = json::array();
  for (const PredictionDirection& d : r.directions) sj.push_back(direction_json(d, dir, shown));
  pj["sparse_prediction"] = sj;

  const GlobalScores& s = r.scores;
  write_npy(dir + "/cca.npy", s.cca.data(), {s.cca.size()});
  write_npy(dir + "/svcca.npy", s.svcca.data(), {s.svcca.size()});
  pj["scores"] = {{"cka_linear", s.cka},
                  {"cca_mean", s.cca_mean},
                  {"cca_count", s.cca.size()},
                  {"cca_rank", {s.cca_rank_a, s.cca_rank_b}},
                  {"cca_top", s.cca.empty() ? json(nullptr) : json(s.cca[0])},
                  {"svcca_mean", s.svcca_mean},
                  {"svcca_dims", {s.svcca_dims_a, s.svcca_dims_b}},
                  {"pwcca", s.pwcca},
                  {"pwcca_weights_from_a", s.pwcca_a},
                  {"pwcca_weights_from_b", s.pwcca_b},
                  {"procrustes", s.procrustes}};

  const SpectralGroups& g = r.groups;
  const int n = r.n;
  const std::string nets =
      "A = " + r.net_a + " (" + std::to_string(pm.na()) + " units), B = " + r.net_b + " (" + std::to_string(pm.nb()) + ")";
  write_png(dir + "/joint.png", joint_heatmap(r.joint, n, {pm.na()}, "joint correlation, " + nets));
  write_png(dir + "/joint_grouped.png",
            joint_heatmap(permuted(r.joint, n, g.order), n, r.cuts, std::to_string(g.k) + " spectral groups, " + nets));
  write_npy(dir + "/joint_corr.npy", r.joint.data(), {(size_t)n, (size_t)n});
  write_npy(dir + "/groups_label.npy", g.label.data(), {(size_t)n});
  write_npy(dir + "/groups_order.npy", g.order.data(), {(size_t)n});
  json gj = json::array();
  for (const UnitGroup& G : g.groups) {
    std::vector<int> ua, ub;
    for (int node : G.nodes) (node < pm.na() ? ua.push_back(pm.valid_a[node]) : ub.push_back(pm.valid_b[node - pm.na()]));
    gj.push_back({{"units_a", ua},
                  {"units_b", ub},
                  {"mean_corr", nan_safe(G.mean_corr)},
                  {"mean_abs_corr", nan_safe(G.mean_abs_corr)},
                  {"mean_between_net_corr", nan_safe(G.mean_between)}});
  }
  pj["groups"] = {{"k", g.k},
                  {"chosen_by", g.k_from_eigengap ? "eigengap" : "--groups"},
                  {"mixed", g.mixed},
                  {"laplacian_eigenvalues", g.laplacian_eigenvalues},
                  {"kmeans_restarts", g.restarts},
                  {"kmeans_inertia", g.inertia},
                  {"groups", gj},
                  {"files", shown + "/joint.png (natural order, line between the nets), joint_grouped.png (group-sorted)"}};
  return pj;
}

Image joint_heatmap(const std::vector<double>& J, int n, const std::vector<int>& cuts, const std::string& title) {
  plot::HeatmapSpec spec;
  spec.title = title;
  spec.x_label = spec.y_label = "joint unit (net A's valid units, then net B's)";
  spec.colorbar_label = "correlation";
  spec.row_borders = spec.col_borders = cuts;
  return plot::render_heatmap(J.data(), n, n, spec).image;
}

}  // namespace cvg
