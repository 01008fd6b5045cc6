// Shared by the bench programs: timing with median and spread over repeats, the machine's name,
// and the results JSON ({"bench", "machine", "date", "columns", "rows", "note"}) that
// scripts/bench_table.py renders. Every figure is reported next to a baseline from the same run.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/device.h"
#include "base/io.h"

namespace cvg::bench {

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int repeats = 0;
  std::string str() const {
    char b[64];
    std::snprintf(b, sizeof b, "%.3f ms [%.3f-%.3f]", median_ms, min_ms, max_ms);
    return b;
  }
};

// Milliseconds per call of `inner` calls of fn back to back; on a GPU synchronised before the clock
// stops, so launch overhead and execution both count.
inline double time_calls(const std::function<void()>& fn, int inner, const Device& dev) {
  const auto a = std::chrono::steady_clock::now();
  for (int i = 0; i < inner; ++i) fn();
  device_sync(dev);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count() / inner;
}

// The median, minimum and maximum of per-repeat times (at least one).
inline Timing summarize(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back(), (int)t.size()};
}

// Lower quartile, median (summarize's: the upper middle of an even count) and upper quartile, by
// nearest rank: sorted v at floor((n-1)/4), n/2 and ceil(3(n-1)/4). v not empty.
struct Quartiles {
  double q1 = 0, median = 0, q3 = 0;
};
inline Quartiles quartiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t last = v.size() - 1;
  return {v[last / 4], v[v.size() / 2], v[(3 * last + 3) / 4]};
}

// Runs fn once to warm up, then `repeats` times, each timed alone.
inline Timing time_it(const std::function<void()>& fn, int repeats, const Device& dev = Device::cpu()) {
  time_calls(fn, 1, dev);
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) t.push_back(time_calls(fn, 1, dev));
  return summarize(t);
}

inline std::string today() {
  char b[32];
  std::time_t t = std::time(nullptr);
  std::strftime(b, sizeof b, "%Y-%m-%d", std::gmtime(&t));
  return b;
}

// The CPU's vector instruction sets that matter to our kernels, from /proc/cpuinfo's flags.
inline std::string cpu_isa() {
  std::ifstream f("/proc/cpuinfo");
  std::string isa;
  for (std::string line; std::getline(f, line);)
    if (line.rfind("flags", 0) == 0) {
      for (const char* flag :
           {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile"})
        if ((line + " ").find(std::string(" ") + flag + " ") != std::string::npos)
          isa += (isa.empty() ? "" : " ") + std::string(flag);
      break;
    }
  return isa.empty() ? "unknown" : isa;
}

// The CPU model, its widest vector ISA and its core count, e.g. "AMD EPYC (AVX-512), 2 cores": a
// virtual machine's model name alone ("AMD EPYC") covers CPUs with and without AVX-512, whose
// figures differ and must not share a results key (scripts/bench_table.py: bench and machine).
inline std::string machine_name(const Device& dev) {
  if (dev.is_cuda()) return dev.name();
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  std::string cpu = "cpu";
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  const std::string isa = " " + cpu_isa() + " ";
  const char* widest = isa.find(" avx512f ") != std::string::npos ? "AVX-512"
                       : isa.find(" avx2 ") != std::string::npos  ? "AVX2"
                                                                  : "";
  return cpu + (*widest ? std::string(" (") + widest + ")" : "") + ", " + std::to_string(cores) + " cores";
}

// Writes the results JSON; `extra` holds further top-level keys (baseline versions, ...). The CPU
// model and instruction sets are always recorded.
inline void write_results(const std::string& path, const std::string& bench, const std::string& machine,
                          const std::vector<std::string>& columns, const nlohmann::json& rows, const std::string& note = "",
                          const nlohmann::json& extra = nlohmann::json::object()) {
  nlohmann::json j = {{"bench", bench}, {"machine", machine}, {"date", today()}, {"columns", columns}, {"rows", rows}};
  if (!note.empty()) j["note"] = note;
  j["cpu"] = machine_name(Device::cpu());
  j["cpu_isa"] = cpu_isa();
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  write_file_atomic(path, j.dump(1) + "\n");
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace cvg::bench
