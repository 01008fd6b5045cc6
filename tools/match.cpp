// bin/match: one-to-one matching of a matrix's rows to its columns (e.g. units of two nets by their
// correlations), maximising (or minimising) the sum of the matched entries.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>

#include "analysis/match/match.h"
#include "base/npy.h"
#include "base/cli.h"

using namespace cvg;

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("match MATRIX.npy [options]",
                   "Matches the rows of a 2-D .npy matrix (float, integer up to 2^53 in magnitude, or bool; C or\n"
                   "Fortran order, either byte order) one-to-one to its columns (min(n, m) pairs), maximising the sum\n"
                   "of the matched entries (--minimize: minimising it). Every entry must be finite: a forbidden pair\n"
                   "(SciPy's -inf) is a very low finite value here, e.g. -1e9 when maximising.\n"
                   "Solvers: exact = Jonker-Volgenant shortest augmenting paths on the CPU (exact in double);\n"
                   "auction = Bertsekas' auction with epsilon scaling on the GPU, exactly optimal for the\n"
                   "matrix quantised to integer levels; it prints the quantisation step and the bound this\n"
                   "puts on its distance from the real-valued optimum, and its own optimality certificate.\n"
                   "Without a GPU, --solver auction runs the auction's CPU twin (same result, slower) and\n"
                   "says so; --device cuda without a GPU is an error. Exit codes: 0 ok, 1 failure, 2 bad input.\n"
                   "Prints the read, solve and write times apart, and the best pairs (--pairs N, --all-pairs).\n"
                   "Every file this tool writes: docs/OUTPUTS.md.");
    args.opt("solver", "exact", "exact | auction")
        .flag("minimize", "minimise the sum instead of maximising it")
        .opt("out", "", "write the assignment here as int64 .npy: entry i = column of row i, -1 if unmatched")
        .opt("device", "auto", "where the auction runs: auto | cpu | cuda | cuda:N (the exact solver is CPU-only)")
        .opt("pairs", "10", "print this many matched pairs, best first (0: none)")
        .flag("all-pairs", "print every matched pair, in row order");
    if (!args.parse(argc, argv)) return 0;
    if (args.positional().size() != 1) throw cli::UsageError("expected one MATRIX.npy (see --help)");
    const std::string path = args.positional()[0];
    const Solver solver = parse_solver(args.str("solver"));
    const bool minimize = args.on("minimize");
    Device device = Device::cpu();
    if (solver == Solver::Auction)
      device = parse_device(args.str("device"));
    else if (args.given("device") && args.str("device") != "cpu" && args.str("device") != "auto")
      std::printf("note: the exact solver runs on the CPU; --device %s ignored\n", args.str("device").c_str());

    const long show = args.integer("pairs");
    if (show < 0) throw cli::UsageError("--pairs must be >= 0");
    if (args.given("out")) require_writable_file(args.path("out"));
    using Clock = std::chrono::steady_clock;
    auto ms_since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
    const auto t_read = Clock::now();
    const NpyMatrix matrix = load_matrix_npy(path);
    const double read_ms = ms_since(t_read);
    const int n = matrix.n, m = matrix.m;
    const double* M = matrix.data;
    Assignment a = assign(M, n, m, solver, minimize, device);
    if (a.auction && !a.report.certified)
      throw std::runtime_error("auction: certificate failed (" + std::to_string(a.report.violations) + " violations)");

    const int pairs = std::min(n, m);
    std::printf("matrix: %s (%d x %d)\n", path.c_str(), n, m);
    std::printf("solver: %s\n", a.solver.c_str());
    std::printf("pairs: %d\n", pairs);
    std::printf("objective: %.9g (%s)\n", a.objective, minimize ? "minimised" : "maximised");
    std::printf("mean matched value: %.9g\n", pairs ? a.objective / pairs : 0.0);
    std::printf("read: %.3f ms\n", read_ms);
    std::printf("solve: %.3f ms\n", a.seconds * 1e3);
    if (a.auction)
      std::printf(
          "auction: quantisation step %.3g (%lld levels), objective within %.3g of the real optimum; "
          "certified optimal for the quantised matrix; %d phases, %lld rounds\n",
          a.report.quantum, (long long)a.report.levels, a.report.error_bound, a.report.phases, (long long)a.report.rounds);
    // Matched pairs: all in row order, or the best few (by matched value in the problem's sense).
    std::vector<int> rows;
    for (int i = 0; i < n; ++i)
      if (a.row_to_col[i] >= 0) rows.push_back(i);
    auto value = [&](int i) { return M[(size_t)i * m + a.row_to_col[i]]; };
    size_t listed = rows.size();
    if (!args.on("all-pairs")) {
      listed = std::min(rows.size(), (size_t)show);
      std::stable_sort(rows.begin(), rows.end(),
                       [&](int p, int q) { return minimize ? value(p) < value(q) : value(p) > value(q); });
    }
    if (listed > 0) {
      std::printf("%s (row -> column: value; rows and columns are 0-based):\n", args.on("all-pairs") ? "pairs" : "best pairs");
      for (size_t k = 0; k < listed; ++k)
        std::printf("  %d -> %lld: %.6g\n", rows[k], (long long)a.row_to_col[rows[k]], value(rows[k]));
    }
    if (listed < rows.size())
      std::printf("  ... %zu more pairs (--all-pairs prints all%s)\n", rows.size() - listed,
                  args.given("out") ? "" : ", --out saves the assignment");
    if (args.given("out")) {
      const std::string out = args.str("out");
      const auto t_write = Clock::now();
      write_npy(out, a.row_to_col.data(), {(size_t)n});
      std::printf("wrote %s (%d x int64: row -> column, -1 = unmatched) in %.1f ms\n", out.c_str(), n, ms_since(t_write));
    }
    return 0;
  });
}
