// bin/match: one-to-one matching of a matrix's rows to its columns (e.g. units of two nets by their
// correlations), maximising (or minimising) the sum of the matched entries.
#include <cstdio>
#include <string>

#include "analysis/match.h"
#include "analysis/npy.h"
#include "tools/cli.h"

using namespace cvg;

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("match MATRIX.npy [options]",
                   "Matches the rows of a 2-D float32/float64 .npy matrix one-to-one to its columns (min(n, m)\n"
                   "pairs), maximising the sum of the matched entries (--minimize: minimising it).\n"
                   "Solvers: exact = Jonker-Volgenant shortest augmenting paths on the CPU (exact in double);\n"
                   "auction = Bertsekas' auction with epsilon scaling on the GPU, exactly optimal for the\n"
                   "matrix quantised to integer levels; it prints the quantisation step and the bound this\n"
                   "puts on its distance from the real-valued optimum, and its own optimality certificate.\n"
                   "Without a GPU, --solver auction runs the auction's CPU twin (same result, slower) and\n"
                   "says so; --device cuda without a GPU is an error. Exit codes: 0 ok, 1 failure, 2 bad input.");
    args.opt("solver", "exact", "exact | auction")
        .flag("minimize", "minimise the sum instead of maximising it")
        .opt("out", "", "write the assignment here as int64 .npy: entry i = column of row i, -1 if unmatched")
        .opt("device", "auto", "where the auction runs: auto | cpu | cuda | cuda:N (the exact solver is CPU-only)");
    if (!args.parse(argc, argv)) return 0;
    if (args.positional().size() != 1) throw cli::UsageError("expected one MATRIX.npy (see --help)");
    const std::string path = args.positional()[0];
    const Solver solver = parse_solver(args.str("solver"));
    const bool minimize = args.on("minimize");
    Device device = Device::cpu();
    if (solver == Solver::Auction) device = parse_device(args.str("device"));
    else if (args.given("device") && args.str("device") != "cpu" && args.str("device") != "auto")
      std::printf("note: the exact solver runs on the CPU; --device %s ignored\n", args.str("device").c_str());

    int n = 0, m = 0;
    std::vector<double> M = read_matrix_npy(path, n, m);
    Assignment a = assign(M.data(), n, m, solver, minimize, device);
    if (a.auction && !a.report.certified)
      throw std::runtime_error("auction: certificate failed (" + std::to_string(a.report.violations) + " violations)");

    const int pairs = std::min(n, m);
    std::printf("matrix: %s (%d x %d)\n", path.c_str(), n, m);
    std::printf("solver: %s\n", a.solver.c_str());
    std::printf("pairs: %d\n", pairs);
    std::printf("objective: %.9g (%s)\n", a.objective, minimize ? "minimised" : "maximised");
    std::printf("mean matched value: %.9g\n", pairs ? a.objective / pairs : 0.0);
    std::printf("time: %.3f ms\n", a.seconds * 1e3);
    if (a.auction)
      std::printf("auction: quantisation step %.3g (%lld levels), objective within %.3g of the real optimum; "
                  "certified optimal for the quantised matrix; %d phases, %lld rounds\n",
                  a.report.quantum, (long long)a.report.levels, a.report.error_bound, a.report.phases,
                  (long long)a.report.rounds);
    if (args.given("out")) {
      const std::string out = args.str("out");
      write_npy(out, a.row_to_col.data(), {(size_t)n});
      std::printf("wrote %s (%d x int64: row -> column, -1 = unmatched)\n", out.c_str(), n);
    }
    return 0;
  });
}
