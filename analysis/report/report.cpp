#include "analysis/report/report.h"

#include "analysis/report/figures.h"
#include "base/io.h"
#include "base/log.h"

namespace cvg::report {

namespace {

std::string header_html(const Study& s) {
  std::string nets;
  if (s.corr)
    for (const NetRecord& n : s.corr->nets)
      nets += (nets.empty() ? "" : ", ") + n.name + " (seed " + std::to_string(n.seed) + ")";
  else
    for (const RunFolder& r : s.runs) nets += (nets.empty() ? "" : ", ") + r.name;
  std::string machine = s.corr ? s.corr->summary.value("machine", std::string()) : std::string();
  return "<p>Do neural networks that differ only in their random initialisation learn the same features? After Li, Yosinski, "
         "Clune, Lipson and Hopcroft, <i>Convergent Learning</i> (ICLR 2016): the nets' units are compared by the correlation "
         "of their activations over a data set, matched one to one (semi-matching: each unit's best partner; bipartite: the "
         "best one-to-one assignment), few-to-one (sparse prediction) and many-to-many (spectral groups), and the layers as a "
         "whole (CKA, CCA, Procrustes).</p>\n<p><b>Nets:</b> " +
         plot::xml_escape(nets.empty() ? "-" : nets) +
         (machine.empty() ? "" : "<br><b>Machine:</b> " + plot::xml_escape(machine)) + "</p>\n";
}

}  // namespace

Page build_page(const Study& s) {
  Page page("Convergent learning: do these nets learn the same features?");
  page.header(header_html(s));
  for (const Problem& p : s.problems)  // one line per problem, though a missing --align-dir concerns three sections
    if (page.warn_once(p.message)) log_warning("report: " + p.message);
  using Section = void (*)(Page&, const Study&);
  const std::pair<Section, const char*> sections[] = {{nets_section, "nets"},
                                                      {matching_section, "matching"},
                                                      {layers_section, "layers"},
                                                      {mutual_info_section, "mutual information"},
                                                      {montages_section, "montages"},
                                                      {sparse_section, "sparse prediction"},
                                                      {groups_section, "spectral groups"},
                                                      {scores_section, "global scores"},
                                                      {training_section, "over training"},
                                                      {other_section, "per-layer results"}};
  for (const auto& [draw, name] : sections) {
    try {
      draw(page, s);
    } catch (const std::exception& e) {
      section_error(page, std::string(name) + ": " + e.what());
    }
  }
  return page;
}

void write_report(const std::string& out, const Page& page) {
  make_dirs(out);
  // The manifest first: a page is never newer than the manifest the browser check reads beside it.
  write_file_atomic(out + "/figures.json", page.manifest().dump(1) + "\n");
  write_file_atomic(out + "/index.html", page.html());
}

}  // namespace cvg::report
