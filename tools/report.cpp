// bin/report: the whole study on one self-contained HTML page (every figure inline, no external
// files), from the run folders and the outputs of bin/correlate, bin/align and bin/visualize.
#include <filesystem>
#include <cstdio>

#include "analysis/plot/font.h"
#include "analysis/report/report.h"
#include "base/cli.h"

using namespace cvg;

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("report RUN_DIR... --correlate-dir D [--align-dir A] [--vis-dir V] [--out DIR]",
                   "Writes OUT/index.html: the study on one page that works offline (every image inline as a data URI, no\n"
                   "external scripts, fonts or styles): the nets, matched correlation per layer with the untrained null, the\n"
                   "random baseline and the paper's values, the between-net correlation matrices raw and reordered by the\n"
                   "matching, every unit's matched correlation, mutual information vs correlation, the best and worst\n"
                   "matched units (bin/visualize), sparse prediction, spectral groups and global scores (bin/align), similarity\n"
                   "over training and the other per-layer results; tables give the numbers. A missing or damaged part (no\n"
                   "--align-dir, a missing matrix file, a corrupt JSON file) is named on the page where it would be, and in\n"
                   "one warning line on stderr. Also writes OUT/figures.json: each image's id, title and pixel size.\n"
                   "Inputs: docs/OUTPUTS.md. Exit codes: 0 ok, 1 failure, 2 bad usage or input.");
    args.opt("correlate-dir", "", "bin/correlate's output folder (required)")
        .opt("align-dir", "", "bin/align's output folder (optional)")
        .opt("vis-dir", "", "bin/visualize's output folder (optional)")
        .opt("out", "runs/report", "output folder");
    if (!args.parse(argc, argv)) return 0;
    if (args.positional().empty()) throw cli::UsageError("give at least one run folder (see --help)");
    if (!args.given("correlate-dir") || args.str("correlate-dir").empty())
      throw cli::UsageError("--correlate-dir is required (see --help)");
    const std::string out = args.path("out");
    require_output_folder(out);
    if (std::filesystem::is_directory(out))  // e.g. a folder named index.html there fails now, not after the page
      for (const char* f : {"/index.html", "/figures.json"}) require_writable_file(out + f);
    // The one required input: without it the page has no figure at all (other missing parts are notices on the page).
    if (!std::filesystem::is_directory(args.str("correlate-dir")))
      throw InputError(args.str("correlate-dir") + ": no such folder (--correlate-dir: bin/correlate's --out)");
    plot::load_font();  // the heatmaps' labels: a missing font fails now with its one line, not in every figure
    report::StudyPaths paths{args.positional(), args.str("correlate-dir"), args.str("align-dir"), args.str("vis-dir")};
    const report::Study study = report::load_study(paths);
    const report::Page page = report::build_page(study);  // prints one warning line per problem
    write_report(out, page);
    std::printf("report: %d figures, %d missing parts\n%s/index.html\n", page.figure_count(), page.warning_count(), out.c_str());
    return 0;
  });
}
