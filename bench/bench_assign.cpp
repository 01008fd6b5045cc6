// bin/bench_assign: the exact CPU solver (and the GPU auction when a GPU exists) on square uniform
// and correlation-like matrices, maximising, against the Python solvers lap, lapjv and SciPy on the
// same matrices (bench/lsa_baselines.py), in interleaved rounds. Writes a table and a JSON file.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/match/match.h"
#include "base/npy.h"
#include "bench/bench_util.h"
#include "base/io.h"
#include "nn/tensor.h"
#include "base/cli.h"

using namespace cvg;
using Clock = std::chrono::steady_clock;

namespace {

#ifdef CONVERGENT_CUDA
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
#endif

int repeats_for(int n, int base) { return n <= 384 ? base * 5 : n <= 1024 ? base : std::max(1, base / 2); }

std::string run_command(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  status = pclose(p);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("bench_assign [options]",
                   "Benchmarks the exact assignment solver (CPU), the auction (GPU, when present) and the Python\n"
                   "solvers lap, lapjv and SciPy (bench/lsa_baselines.py, those that python3 can import) on the\n"
                   "same matrices, in interleaved rounds; every time is the best over all rounds and repeats.");
    args.opt("sizes", "96,256,384,1024,4096", "comma-separated matrix sizes n (n x n)")
        .opt("repeats", "5", "repeats per round at n = 1024 (x5 for n <= 384, /2 for larger)")
        .opt("rounds", "2", "rounds of (ours, then the Python solvers), interleaved")
        .opt("out", "", "JSON output (default bench/results/assign-<host>-<date>.json)")
        .flag("quick", "short run: sizes 96,256,1024 and 3 repeats unless --sizes / --repeats are given")
        .flag("no-python", "skip the Python baselines");
    if (!args.parse(argc, argv)) return 0;
    args.no_positional();
    const bool quick = args.on("quick");
    std::vector<int> sizes;
    for (const std::string& tok : cli::list_items("sizes", quick && !args.given("sizes") ? "96,256,1024" : args.str("sizes"))) {
      if (tok.size() > 5 || tok.find_first_not_of("0123456789") != std::string::npos || std::stoi(tok) < 2 || std::stoi(tok) > 16384)
        throw cli::UsageError("--sizes expects comma-separated sizes in [2, 16384], got '" + args.str("sizes") + "'");
      sizes.push_back(std::stoi(tok));
    }
    if (sizes.empty()) throw cli::UsageError("--sizes is empty");
    const int base = quick && !args.given("repeats") ? 3 : args.int32("repeats"), rounds = args.int32("rounds");
    if (base < 1 || rounds < 1) throw cli::UsageError("--repeats and --rounds must be at least 1");
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    const std::string out =
        args.given("out") ? args.str("out") : "bench/results/assign-" + std::string(host) + "-" + bench::today() + ".json";
    const bool gpu = gpu_count() > 0;
    const std::string tmp = "/tmp/bench_assign_" + std::to_string(::getpid());
    make_dirs(tmp);
    const std::vector<std::string> py_solvers = {"lap", "lapjv", "scipy"};

    struct Row {
      std::string kind;
      int n, reps;
      std::vector<double> M;
      double exact_ms = INFINITY, objective = 0, auction_ms = NAN, auction_bound = NAN, auction_gap = NAN;
      std::map<std::string, double> py_ms;
      bool certified = false;
      std::string file;
    };
    std::vector<Row> rows;
    for (int kind = 0; kind < 2; ++kind)
      for (int n : sizes) {
        Row r;
        r.kind = kind == 0 ? "uniform" : "correlation";
        r.n = n;
        r.reps = repeats_for(n, base);
        r.M = synthetic_matrix(kind == 0 ? MatrixKind::Uniform : MatrixKind::Correlation, n, n, 1000 + n);
        r.file = tmp + "/" + r.kind + "_" + std::to_string(n) + ".npy";
        write_npy(r.file, r.M.data(), {(size_t)n, (size_t)n});
        rows.push_back(std::move(r));
      }

    nlohmann::json versions = nlohmann::json::object(), skipped = nlohmann::json::object();
    bool python_ok = !args.on("no-python");
    if (!python_ok) std::printf("python baselines: skipped (--no-python)\n");
    for (int round = 0; round < rounds; ++round) {
      for (Row& r : rows) {
        const int n = r.n;
        std::vector<char> work(cpu::assign_exact_workspace_bytes(n, n) + 64);
        void* w = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(work.data()) + 63) / 64 * 64);
        std::vector<int64_t> r2c(n);
        for (int k = 0; k < r.reps; ++k) {
          auto t0 = Clock::now();
          r.objective = cpu::assign_exact(r.M.data(), n, n, false, r2c.data(), nullptr, nullptr, w);
          r.exact_ms = std::min(r.exact_ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
      }
      if (!python_ok) continue;
      // One call per size so each gets its own repeat count; the solvers run on the very same files.
      for (Row& r : rows) {
        int status = 0;
        std::string js =
            run_command("python3 bench/lsa_baselines.py " + std::to_string(r.reps) + " " + r.file + " 2>/dev/null", status);
        if (status != 0 || js.empty()) {
          std::printf("python baselines: skipped (python3 with numpy not found, exit status %d)\n",
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
          python_ok = false;
          break;
        }
        nlohmann::json j = nlohmann::json::parse(js);
        versions = j["versions"], skipped = j["skipped"];
        for (const std::string& s : py_solvers) {
          if (!j["results"][r.file].contains(s)) continue;
          const auto& e = j["results"][r.file][s];
          double ms = e["ms"].get<double>();
          r.py_ms[s] = r.py_ms.count(s) ? std::min(r.py_ms[s], ms) : ms;
          // lapjv solves in float32, so its matching may be (slightly) worse; the others must agree.
          double gap = r.objective - e["objective"].get<double>();
          if (s != "lapjv" && std::fabs(gap) > 1e-9 * r.n)
            std::fprintf(stderr, "warning: %s's objective differs from the exact solver's on %s n=%d by %g\n", s.c_str(),
                         r.kind.c_str(), r.n, gap);
        }
      }
    }
    for (auto it = skipped.begin(); it != skipped.end(); ++it)
      std::printf("python baseline %s: skipped (%s)\n", it.key().c_str(), it.value().get<std::string>().c_str());

#ifdef CONVERGENT_CUDA
    if (gpu)
      for (Row& r : rows) {
        const int n = r.n;
        Device dev{Device::CUDA, 0};
        Array<double> dM(dev, r.M.size());
        Array<int64_t> dr(dev, (size_t)n);
        Array<char> dw(dev, cuda::assign_auction_workspace_bytes(n, n));
        dM.from_host(r.M);
        cuda::assign_auction(dM.data(), n, n, false, dr.data(), dw.data());  // warm-up
        std::vector<double> t;
        AuctionReport rep;
        for (int k = 0; k < r.reps; ++k) {
          auto t0 = Clock::now();
          rep = cuda::assign_auction(dM.data(), n, n, false, dr.data(), dw.data());
          t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        r.auction_ms = median(t);
        r.auction_bound = rep.error_bound;
        r.auction_gap = r.objective - rep.objective;
        r.certified = rep.certified;
      }
#endif
    for (const Row& r : rows) std::remove(r.file.c_str());
    ::rmdir(tmp.c_str());

    auto num = [](double x, const char* fmt) {
      char b[32];
      if (std::isnan(x)) return std::string("-");
      std::snprintf(b, sizeof b, fmt, x);
      return std::string(b);
    };
    std::printf("assignment benchmark (maximise, square, best of %d rounds x repeats): %s\n", rounds,
                bench::machine_name(Device::cpu()).c_str());
    std::printf("GPU: %s; python baselines: %s\n", gpu ? Device{Device::CUDA, 0}.name().c_str() : "none",
                versions.dump().c_str());
    std::printf("%-12s %6s %10s %10s %10s %10s %9s %10s %9s\n", "matrix", "n", "exact ms", "lap ms", "lapjv ms", "scipy ms",
                "best/ours", "auction ms", "auct/ex");
    nlohmann::json results = nlohmann::json::array();
    for (const Row& r : rows) {
      auto py = [&](const std::string& s) { return r.py_ms.count(s) ? r.py_ms.at(s) : NAN; };
      // The faster of the two JV codes (lap, lapjv): the bar the exact solver is held to.
      double jv = std::fmin(py("lap"), py("lapjv"));
      std::printf("%-12s %6d %10.3f %10s %10s %10s %9s %10s %9s\n", r.kind.c_str(), r.n, r.exact_ms,
                  num(py("lap"), "%.3f").c_str(), num(py("lapjv"), "%.3f").c_str(), num(py("scipy"), "%.3f").c_str(),
                  num(jv / r.exact_ms, "%.2f").c_str(), num(r.auction_ms, "%.3f").c_str(),
                  num(r.auction_ms / r.exact_ms, "%.3f").c_str());
      nlohmann::json e = {{"matrix", r.kind}, {"n", r.n}, {"exact_ms", r.exact_ms}, {"objective", r.objective}};
      for (const std::string& s : py_solvers)
        if (!std::isnan(py(s))) e[s + "_ms"] = py(s);
      if (!std::isnan(jv)) e["fastest_jv_over_exact"] = jv / r.exact_ms;
      if (!std::isnan(py("scipy"))) e["scipy_over_exact"] = py("scipy") / r.exact_ms;
      if (!std::isnan(r.auction_ms))
        e["auction_ms"] = r.auction_ms, e["auction_over_exact"] = r.auction_ms / r.exact_ms,
        e["auction_error_bound"] = r.auction_bound, e["auction_gap"] = r.auction_gap, e["auction_certified"] = r.certified;
      results.push_back(e);
    }
    // The shared results schema (bench/bench_util.h), which scripts/bench_table.py renders.
    auto slash = out.rfind('/');
    if (slash != std::string::npos) make_dirs(out.substr(0, slash));
    const std::string machine = gpu ? Device{Device::CUDA, 0}.name() : bench::machine_name(Device::cpu());
    bench::write_results(
        out, "assign", machine,
        {"matrix", "n", "exact_ms", "lap_ms", "lapjv_ms", "scipy_ms", "fastest_jv_over_exact", "scipy_over_exact", "auction_ms",
         "auction_over_exact", "auction_error_bound", "auction_gap", "auction_certified"},
        results,
        "Square matrices, maximising; exact = our JV solver (CPU, double), auction = our GPU auction (median). "
        "CPU times are the best over " +
            std::to_string(rounds) +
            " interleaved rounds of repeats; "
            "fastest_jv_over_exact = min(lap, lapjv) / exact (> 1: ours faster). lapjv casts the float64 "
            "matrix to float32 and solves that. Python baselines: " +
            versions.dump() + ".",
        {{"baselines", versions}, {"baselines_skipped", skipped}});
    return 0;
  });
}
