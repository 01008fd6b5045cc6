// The report's sections, one function each (figures through analysis/plot/, numbers in tables
// beside them), and the small helpers they share. A section that meets missing or damaged input
// says so on the page (Page::notice) instead of drawing; report.cpp turns any error a section
// throws into such a notice.
#pragma once
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/plot/heatmap.h"
#include "analysis/plot/svg_chart.h"
#include "analysis/report/page.h"
#include "analysis/report/study.h"

namespace cvg::report {

void nets_section(Page& page, const Study& s);
void matching_section(Page& page, const Study& s);     // per-layer matched correlation vs the paper, claims
void layers_section(Page& page, const Study& s);       // matrices raw and reordered, sorted matched correlations
void mutual_info_section(Page& page, const Study& s);  // MI vs correlation matching
void montages_section(Page& page, const Study& s);     // bin/visualize's best and worst pairs, labelled
void sparse_section(Page& page, const Study& s);       // loss vs L1 penalty
void groups_section(Page& page, const Study& s);       // spectral groups
void scores_section(Page& page, const Study& s);       // CKA, CCA, SVCCA, PWCCA, Procrustes
void training_section(Page& page, const Study& s);     // over_training
void other_section(Page& page, const Study& s);        // multiway, dead units, redundancy, bootstrap

// The notices of part `p` (and `layer`) as boxes on the page; true when there were any.
bool notices(Page& page, const Study& s, Part p, const std::string& layer = "");

// A part that could not be drawn: a notice on the page and a warning line on stderr (base/log.h).
void section_error(Page& page, const std::string& message);

// A chart series (y over x = 0, 1, 2... unless x is set later).
plot::Series series(const std::string& name, plot::SeriesKind kind = plot::SeriesKind::LineMarkers, std::vector<double> y = {});

Picture svg_picture(const plot::Chart& chart);
Picture png_picture(const Image& image);

// JSON numbers that may be absent or null (NaN then).
double number(const nlohmann::json& j, const std::string& key);
// An over_pairs statistic: {mean_over_pairs, min_over_pairs, max_over_pairs, net_resampling_95}.
struct Stat {
  double mean = NAN, min = NAN, max = NAN, lo = NAN, hi = NAN;  // lo, hi: NaN with two nets
};
Stat stat(const nlohmann::json& layer_entry, const std::string& key);

}  // namespace cvg::report
