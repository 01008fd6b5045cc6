// Helpers shared by bench_layers, bench_train and bench_stats (on top of bench_util.h):
//  - an adaptive timer: one call warms up and sizes the plan, then repeats of `inner` calls each
//    lasting at least min_repeat_ms (launch overhead and clock resolution stay small), about
//    budget_ms in all, median and range per call;
//  - the per-layer shapes of a net config (the same arithmetic as the layers' setup);
//  - running a helper script (PyTorch) and reading the JSON object it prints;
//  - a plain-text table of JSON rows.
#pragma once
#include <omp.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/errors.h"

#include "kernels/gemm.h"

#include "bench/bench_util.h"
#include "kernels/conv.h"
#include "kernels/pool.h"
#include "nn/config.h"

namespace cvg::bench {

// ---- timing ---------------------------------------------------------------------------------------

struct Budget {
  double min_repeat_ms = 2;  // a repeat runs the op `inner` times to last at least this long
  double budget_ms = 300;    // all repeats together, about
  int min_repeats = 3, max_repeats = 30;
  bool warmup = true;  // an untimed call first (lazy init, page faults); off for slow naive loops
};

struct Plan {
  int inner = 1, repeats = 1;
};

// From the time of one call: inner = ceil(min_repeat_ms / first_ms) (1..10000), repeats = the
// budget over one repeat's time, clamped to [min_repeats, max_repeats].
inline Plan plan_repeats(double first_ms, const Budget& b) {
  const double t = std::max(first_ms, 1e-6);
  Plan p;
  p.inner = (int)std::min(10000.0, std::max(1.0, std::ceil(b.min_repeat_ms / t)));
  const double rep = p.inner * t;
  const double fit = std::floor(b.budget_ms / rep);
  p.repeats = (int)std::min<double>(b.max_repeats, std::max<double>(b.min_repeats, fit));
  return p;
}

// Times fn per call: an optional warm-up call, one timed call that sizes the plan, then the repeats
// (each synchronised with the device before the clock stops).
inline Timing measure(const std::function<void()>& fn, const Budget& b, const Device& dev = Device::cpu()) {
  if (b.warmup) time_calls(fn, 1, dev);
  const Plan p = plan_repeats(time_calls(fn, 1, dev), b);
  std::vector<double> t;
  for (int r = 0; r < p.repeats; ++r) t.push_back(time_calls(fn, p.inner, dev));
  return summarize(t);
}

// Two ops timed in alternation, A then B, then B then A, and so on, so that both see the same
// conditions on a machine whose speed drifts (a shared virtual machine's can halve for seconds):
// `b_over_a` is the median over repeats of B's time over A's in the same repeat.
struct PairTiming {
  Timing a, b;
  double b_over_a = 0;                // the median of the repeats' ratios b / a
  double ratio_q1 = 0, ratio_q3 = 0;  // their lower and upper quartiles (nearest rank)
};

inline PairTiming measure_pair(const std::function<void()>& fa, const std::function<void()>& fb, const Budget& bud,
                               const Device& dev = Device::cpu()) {
  if (bud.warmup) time_calls(fa, 1, dev), time_calls(fb, 1, dev);
  Budget half = bud;  // the pair shares the budget
  half.budget_ms = bud.budget_ms / 2;
  const Plan pa = plan_repeats(time_calls(fa, 1, dev), half), pb = plan_repeats(time_calls(fb, 1, dev), half);
  const int repeats = std::min(pa.repeats, pb.repeats);
  std::vector<double> ta, tb, ratio;
  for (int r = 0; r < repeats; ++r) {
    if (r % 2 == 0) {
      ta.push_back(time_calls(fa, pa.inner, dev));
      tb.push_back(time_calls(fb, pb.inner, dev));
    } else {
      tb.push_back(time_calls(fb, pb.inner, dev));
      ta.push_back(time_calls(fa, pa.inner, dev));
    }
    ratio.push_back(tb.back() / ta.back());
  }
  const Quartiles q = quartiles(ratio);
  return {summarize(ta), summarize(tb), q.median, q.q1, q.q3};
}

// ---- net shapes -----------------------------------------------------------------------------------

struct LayerShape {
  LayerConfig cfg;           // num_output resolved ("classes" -> the class count)
  std::vector<int> in, out;  // per sample [c, h, w]
};

// The per-sample input and output shape of every layer, by the same rules as nn/layers.cpp
// (conv rounds down, max pooling up, fc flattens). Throws InputError on a shape that does not fit.
inline std::vector<LayerShape> layer_shapes(const NetConfig& net, std::vector<int> in, int classes) {
  std::vector<LayerShape> out;
  for (const LayerConfig& lc : net.layers) {
    LayerShape s;
    s.cfg = lc;
    if (s.cfg.num_output == -1) s.cfg.num_output = classes;
    s.in = in;
    const std::string where = net.path + ": layer " + lc.name + ": ";
    if (lc.type == "conv") {
      ConvGeom g{1, in[0], in[1], in[2], s.cfg.num_output, lc.kernel_size, lc.kernel_size, lc.stride, lc.pad, lc.group};
      if (in[1] + 2 * lc.pad < lc.kernel_size || in[2] + 2 * lc.pad < lc.kernel_size || in[0] % lc.group)
        throw InputError(where + "does not fit its input");
      s.out = {s.cfg.num_output, g.out_h(), g.out_w()};
    } else if (lc.type == "maxpool") {
      if (in[1] + 2 * lc.pad < lc.kernel_size || in[2] + 2 * lc.pad < lc.kernel_size)
        throw InputError(where + "does not fit its input");
      s.out = {in[0], PoolGeom::out_dim(in[1], lc.kernel_size, lc.stride, lc.pad),
               PoolGeom::out_dim(in[2], lc.kernel_size, lc.stride, lc.pad)};
    } else if (lc.type == "fc") {
      s.out = {s.cfg.num_output, 1, 1};
    } else {
      s.out = in;
    }
    in = s.out;
    out.push_back(s);
  }
  return out;
}

// ---- helper scripts -------------------------------------------------------------------------------

// Runs a shell command; returns its stdout, and its exit code in `code` (-1 when it could not run).
inline std::string run_command(const std::string& cmd, int& code) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    code = -1;
    return out;
  }
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  const int st = pclose(p);
  code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// The last line of `text` that parses as a JSON object, or null.
inline nlohmann::json last_json_object(const std::string& text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = text.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    const std::string line = text.substr(start, end - start);
    if (!line.empty() && line[0] == '{') {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.is_object()) return j;
    }
    if (start == 0) break;
    end = start - 1;
  }
  return nullptr;
}

// A helper script shipped in bench/: found from the working directory (the repository root, where
// make bench runs) or next to the binary (bin/../bench/). Empty when neither exists.
inline std::string find_script(const std::string& name) {
  if (FILE* f = std::fopen(("bench/" + name).c_str(), "r")) {
    std::fclose(f);
    return "bench/" + name;
  }
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    std::string dir(exe, (size_t)len);
    dir = dir.substr(0, dir.rfind('/'));
    const std::string p = dir + "/../bench/" + name;
    if (FILE* f = std::fopen(p.c_str(), "r")) {
      std::fclose(f);
      return p;
    }
  }
  return "";
}

// Whether a bench runs its CPU section: not with --gpu-only, and not in a --quick run on a machine
// with a GPU (the short GPU check spends its minutes on the GPU) unless --with-cpu asks for it.
// Prints one line when it skips. --gpu-only with --cpu-only would run nothing: refused.
inline bool cpu_section_wanted(bool gpu_only, bool cpu_only, bool quick, bool with_cpu, bool gpu_present) {
  if (gpu_only && cpu_only) throw UsageError("--gpu-only and --cpu-only exclude each other");
  if (gpu_only) return false;
  if (quick && gpu_present && !with_cpu) {
    std::printf("quick run on a GPU machine: skipping the CPU section (--with-cpu runs it)\n");
    return false;
  }
  return true;
}

// ---- output -----------------------------------------------------------------------------------------

inline std::string fmt_num(double v, const char* f = "%.4g") {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// Prints rows (JSON objects) as an aligned table of the given columns; absent cells are blank.
inline void print_table(const std::vector<std::string>& cols, const nlohmann::json& rows) {
  auto cell = [](const nlohmann::json& r, const std::string& c) -> std::string {
    if (!r.contains(c) || r[c].is_null()) return "";
    const auto& v = r[c];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return fmt_num(v.get<double>());
    return v.dump();
  };
  std::vector<size_t> w(cols.size());
  for (size_t i = 0; i < cols.size(); ++i) {
    w[i] = cols[i].size();
    for (const auto& r : rows) w[i] = std::max(w[i], cell(r, cols[i]).size());
  }
  for (size_t i = 0; i < cols.size(); ++i) std::printf("%-*s%s", (int)w[i], cols[i].c_str(), i + 1 < cols.size() ? "  " : "\n");
  for (const auto& r : rows)
    for (size_t i = 0; i < cols.size(); ++i)
      std::printf("%-*s%s", (int)w[i], cell(r, cols[i]).c_str(), i + 1 < cols.size() ? "  " : "\n");
  std::fflush(stdout);
}

inline std::string timing_range(const Timing& t) { return fmt_num(t.min_ms, "%.3g") + "-" + fmt_num(t.max_ms, "%.3g"); }

// What the CPU figures ran under: the OpenMP wait policy (scripts/bench.sh sets passive: on a
// shared, busy machine spinning threads burn the time slices their partners need) and the conv
// GEMM kernels (ours on AVX-512 CPUs, OpenBLAS elsewhere or with CONVERGENT_CPU_GEMM=openblas).
inline std::string cpu_run_conditions() {
  const char* p = std::getenv("OMP_WAIT_POLICY");
  return std::string("OMP_WAIT_POLICY ") + (p && *p ? p : "unset (GOMP spins, then sleeps)") + ", conv GEMM " +
         cpu::gemm_kernels();
}

// The caps on PyTorch's CPU kernels that this run was given, as a sentence per variable ("" when
// none): comparing our AVX2 path (CONVERGENT_CPU_GEMM=avx2) fairly means capping PyTorch's too.
inline std::string torch_cpu_caps() {
  std::string s;
  for (const char* var : {"ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"})
    if (const char* v = std::getenv(var)) s += std::string("PyTorch run with ") + var + "=" + v + ". ";
  return s;
}

// The system's 1-minute load average (the CPU figures are only as quiet as the machine).
inline double load_average() {
  double l[3] = {0, 0, 0};
  return getloadavg(l, 3) > 0 ? l[0] : -1;
}

}  // namespace cvg::bench
