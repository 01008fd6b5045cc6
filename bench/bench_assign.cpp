// bin/bench_assign: the exact CPU solver (and the GPU auction when a GPU exists) on square uniform
// and correlation-like matrices, maximising; times are medians of repeats, ratios are against the
// exact solver in the same run. SciPy's linear_sum_assignment is timed on the same matrices when
// python3 with scipy is available (bench/scipy_lsa.py). Writes a table and a JSON file.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/match.h"
#include "analysis/npy.h"
#include "bench/bench_util.h"
#include "nn/io.h"
#include "nn/tensor.h"
#include "tools/cli.h"

using namespace cvg;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int repeats_for(int n, int base) { return n <= 384 ? base * 5 : n <= 1024 ? base : std::max(1, base / 2); }

std::string run_command(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) { status = -1; return out; }
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  status = pclose(p);
  return out;
}

std::string today() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::localtime(&t));
  return buf;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("bench_assign [options]", "Benchmarks the exact assignment solver (CPU), the auction (GPU, when present) and\n"
                                             "SciPy's linear_sum_assignment (when python3 has scipy) on the same matrices.");
    args.opt("sizes", "96,256,384,1024,4096", "comma-separated matrix sizes n (n x n)")
        .opt("repeats", "5", "repeats at n = 1024 (x5 for n <= 384, /2 for larger); the median is reported")
        .opt("out", "", "JSON output (default bench/results/assign-<host>-<date>.json)")
        .flag("quick", "short run: sizes 96,256,1024 and 3 repeats unless --sizes / --repeats are given")
        .flag("no-scipy", "skip the SciPy comparison");
    if (!args.parse(argc, argv)) return 0;
    const bool quick = args.on("quick");
    std::vector<int> sizes;
    {
      std::stringstream ss(quick && !args.given("sizes") ? std::string("96,256,1024") : args.str("sizes"));
      std::string tok;
      while (std::getline(ss, tok, ','))
        if (!tok.empty()) sizes.push_back(std::stoi(tok));
    }
    const int base = quick && !args.given("repeats") ? 3 : (int)args.integer("repeats");
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    const std::string out = args.given("out") ? args.str("out") : "bench/results/assign-" + std::string(host) + "-" + today() + ".json";
    const bool gpu = gpu_count() > 0;
    const std::string tmp = "/tmp/bench_assign_" + std::to_string(::getpid());
    make_dirs(tmp);

    struct Row {
      std::string kind;
      int n;
      double exact_ms, objective, auction_ms = NAN, auction_bound = NAN, auction_gap = NAN, scipy_ms = NAN;
      bool certified = false;
      std::string file;
    };
    std::vector<Row> rows;
    for (int kind = 0; kind < 2; ++kind)
      for (int n : sizes) {
        Row r;
        r.kind = kind == 0 ? "uniform" : "correlation";
        r.n = n;
        std::vector<double> M = synthetic_matrix(kind == 0 ? MatrixKind::Uniform : MatrixKind::Correlation, n, n, 1000 + n);
        const int reps = repeats_for(n, base);
        std::vector<char> work(cpu::assign_exact_workspace_bytes(n, n) + 64);
        void* w = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(work.data()) + 63) / 64 * 64);
        std::vector<int64_t> r2c(n);
        std::vector<double> t;
        for (int k = 0; k < reps; ++k) {
          auto t0 = Clock::now();
          r.objective = cpu::assign_exact(M.data(), n, n, false, r2c.data(), nullptr, nullptr, w);
          t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        r.exact_ms = median(t);
#ifdef CONVERGENT_CUDA
        if (gpu) {
          Device dev{Device::CUDA, 0};
          Array<double> dM(dev, M.size());
          Array<int64_t> dr(dev, (size_t)n);
          Array<char> dw(dev, cuda::assign_auction_workspace_bytes(n, n));
          dM.from_host(M);
          cuda::assign_auction(dM.data(), n, n, false, dr.data(), dw.data());  // warm-up
          t.clear();
          AuctionReport rep;
          for (int k = 0; k < reps; ++k) {
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
        r.file = tmp + "/" + r.kind + "_" + std::to_string(n) + ".npy";
        write_npy(r.file, M.data(), {(size_t)n, (size_t)n});
        rows.push_back(r);
      }

    std::string scipy_version = "absent";
    if (!args.on("no-scipy")) {
      std::string cmd = "python3 bench/scipy_lsa.py " + std::to_string(base);
      for (const Row& r : rows) cmd += " " + r.file;
      int status = 0;
      std::string js = run_command(cmd + " 2>/dev/null", status);
      if (status == 0 && !js.empty()) {
        nlohmann::json j = nlohmann::json::parse(js);
        scipy_version = j["scipy"].get<std::string>();
        for (Row& r : rows) {
          const auto& e = j["results"][r.file];
          r.scipy_ms = e["ms"].get<double>();
          if (std::fabs(e["objective"].get<double>() - r.objective) > 1e-9 * r.n)
            std::fprintf(stderr, "warning: scipy's objective differs from the exact solver's on %s n=%d\n",
                         r.kind.c_str(), r.n);
        }
      }
    } else {
      scipy_version = "skipped";
    }
    for (const Row& r : rows) std::remove(r.file.c_str());
    ::rmdir(tmp.c_str());

    std::printf("assignment benchmark (maximise, square): %s\n", cpu_model().c_str());
    std::printf("GPU: %s; scipy: %s\n", gpu ? Device{Device::CUDA, 0}.name().c_str() : "none", scipy_version.c_str());
    std::printf("%-12s %6s %12s %12s %9s %12s %9s %10s\n", "matrix", "n", "exact ms", "scipy ms", "scipy/ex", "auction ms",
                "auct/ex", "bound");
    nlohmann::json results = nlohmann::json::array();
    for (const Row& r : rows) {
      auto num = [](double x, const char* fmt) {
        char b[32];
        if (std::isnan(x)) return std::string("-");
        std::snprintf(b, sizeof b, fmt, x);
        return std::string(b);
      };
      std::printf("%-12s %6d %12.3f %12s %9s %12s %9s %10s\n", r.kind.c_str(), r.n, r.exact_ms,
                  num(r.scipy_ms, "%.3f").c_str(), num(r.scipy_ms / r.exact_ms, "%.2f").c_str(),
                  num(r.auction_ms, "%.3f").c_str(), num(r.auction_ms / r.exact_ms, "%.3f").c_str(),
                  num(r.auction_bound, "%.2g").c_str());
      nlohmann::json e = {{"matrix", r.kind}, {"n", r.n}, {"exact_ms", r.exact_ms}, {"objective", r.objective}};
      if (!std::isnan(r.scipy_ms)) e["scipy_ms"] = r.scipy_ms, e["scipy_over_exact"] = r.scipy_ms / r.exact_ms;
      if (!std::isnan(r.auction_ms))
        e["auction_ms"] = r.auction_ms, e["auction_over_exact"] = r.auction_ms / r.exact_ms,
        e["auction_error_bound"] = r.auction_bound, e["auction_gap"] = r.auction_gap, e["auction_certified"] = r.certified;
      results.push_back(e);
    }
    // The shared results schema (bench/bench_util.h), which scripts/bench_table.py renders.
    auto slash = out.rfind('/');
    if (slash != std::string::npos) make_dirs(out.substr(0, slash));
    const std::string machine = gpu ? Device{Device::CUDA, 0}.name() : cpu_model() + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " cores";
    bench::write_results(out, "assign", machine,
                         {"matrix", "n", "exact_ms", "objective", "scipy_ms", "scipy_over_exact", "auction_ms", "auction_over_exact",
                          "auction_error_bound", "auction_gap", "auction_certified"},
                         results,
                         "Square matrices, maximising; exact = our JV solver (CPU), auction = our GPU auction; times are medians of "
                         "repeats; *_over_exact = that time / the exact solver's time (> 1: the exact solver is faster). SciPy " +
                             scipy_version + ".");
    return 0;
  });
}
