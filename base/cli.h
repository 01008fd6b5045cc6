// A small flag parser shared by the tools: --name value / --name=value / boolean --flag,
// positional arguments, generated --help, and the exit-code convention (0 ok, 1 failure,
// 2 bad usage or input). Header-only because every tool is one main().
#pragma once
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/dist.h"
#include "base/errors.h"
#include "base/io.h"
#include "kernels/gemm.h"

// Written by the Makefile into build/<flavour>/version.cpp: commit, flavour, compiler, ISA.
extern const char convergent_build[];

namespace cvg::cli {

using ::cvg::UsageError;

class Args {
 public:
  Args(std::string usage, std::string about) : usage_(std::move(usage)), about_(std::move(about)) {}

  // Declare an option with a default ("" = none); `is_flag` options take no value.
  Args& opt(const std::string& name, const std::string& def, const std::string& help, bool is_flag = false) {
    opts_[name] = {def, help, is_flag, false};
    order_.push_back(name);
    return *this;
  }
  Args& flag(const std::string& name, const std::string& help) { return opt(name, "", help, true); }
  // `old` is another spelling of the declared option `name` (kept so older command lines still work).
  Args& alias(const std::string& old, const std::string& name) {
    aliases_[old] = name;
    return *this;
  }

  // Returns false when --help or --version was printed (the tool then exits 0). Throws UsageError otherwise.
  bool parse(int argc, char** argv) {
    bool options_end = false;  // after "--" every argument is positional (a file named "-x")
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (options_end) {
        positional_.push_back(a);
        continue;
      }
      if (a == "--") {
        options_end = true;
        continue;
      }
      if (a == "-h" || a == "--help") {
        print_help();
        return false;
      }
      if (a == "--version") {
        print_version();
        return false;
      }
      if (a.rfind("--", 0) == 0 && a.size() > 2) {
        std::string name = a.substr(2), value;
        bool has_eq = false;
        if (auto eq = name.find('='); eq != std::string::npos)
          value = name.substr(eq + 1), name = name.substr(0, eq), has_eq = true;
        if (auto al = aliases_.find(name); al != aliases_.end()) name = al->second;
        auto it = opts_.find(name);
        if (it == opts_.end()) throw UsageError("unknown option --" + name + " (see --help)");
        Opt& o = it->second;
        if (o.is_flag) {
          if (has_eq) throw UsageError("--" + name + " takes no value");
          o.value = "1";
        } else if (has_eq) {
          o.value = value;
        } else {
          if (i + 1 >= argc) throw UsageError("--" + name + " needs a value");
          o.value = argv[++i];
        }
        o.given = true;
      } else if (a.size() > 1 && a[0] == '-') {
        throw UsageError("unknown option " + a + " (see --help; a file named like an option goes after --)");
      } else {
        positional_.push_back(a);
      }
    }
    return true;
  }
  // For tools that take options only: a stray argument is a usage error, not silently ignored.
  void no_positional() const {
    if (!positional_.empty()) throw UsageError("unexpected argument '" + positional_[0] + "' (see --help)");
  }

  std::string str(const std::string& name) const { return get(name).value; }
  bool given(const std::string& name) const { return get(name).given; }
  bool on(const std::string& name) const { return get(name).value == "1"; }
  // A path flag's value (an output folder or file): an empty one is refused, as it made paths like "/summary.json".
  const std::string& path(const std::string& name) const {
    const std::string& v = get(name).value;
    if (v.empty()) throw UsageError("--" + name + " must not be empty (see --help)");
    return v;
  }
  // Decimal digits with an optional '-' (strtoll alone takes " 5", "+5").
  long long integer(const std::string& name) const {
    const std::string& v = get(name).value;
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || v.find_first_not_of("0123456789", v[0] == '-') != std::string::npos)
      throw UsageError("--" + name + " expects an integer, got '" + v + "'");
    if (errno == ERANGE) throw UsageError("--" + name + " " + v + " is out of range (a 64-bit integer)");
    return x;
  }
  // integer() for the flags kept in an int: a value past it is refused, not cut to its low 32 bits.
  int int32(const std::string& name) const {
    const long long x = integer(name);
    if (x < INT_MIN || x > INT_MAX) throw UsageError("--" + name + " " + get(name).value + " is out of range");
    return (int)x;
  }
  std::vector<std::string> list(const std::string& name) const;  // list_items of the flag's value
  // --threads, data-loading threads: 0 (load in the calling thread) to 4 per CPU core.
  int loader_threads(const std::string& name = "threads") const {
    const long long most = 4 * (long long)std::max(1u, std::thread::hardware_concurrency()), x = integer(name);
    if (x < 0 || x > most)
      throw UsageError("--" + name + " must be in [0, " + std::to_string(most) + "] (4 per CPU core), got " + get(name).value);
    return (int)x;
  }
  // A decimal number (no leading space, no hexadecimal), finite.
  double real(const std::string& name) const {
    const std::string& v = get(name).value;
    char* end = nullptr;
    double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || std::isspace((unsigned char)v[0]) || v.find_first_of("xX") != std::string::npos)
      throw UsageError("--" + name + " expects a number, got '" + v + "'");
    if (!std::isfinite(x)) throw UsageError("--" + name + " expects a finite number, got '" + v + "'");
    return x;
  }
  const std::vector<std::string>& positional() const { return positional_; }

  void print_help() const {
    std::printf("usage: %s\n\n%s\n\noptions:\n", usage_.c_str(), about_.c_str());
    for (const auto& n : order_) {
      const Opt& o = opts_.at(n);
      std::string left = "--" + n + (o.is_flag ? "" : " V");
      std::printf("  %-22s %s%s\n", left.c_str(), o.help.c_str(),
                  (!o.is_flag && !o.value.empty()) ? (" (default: " + o.value + ")").c_str() : "");
    }
    std::printf("  %-22s %s\n", "-h, --help", "show this help");
    std::printf("  %-22s %s\n", "--version", "show the build (commit, CPU-only or CUDA, compiler, ISA)");
  }
  static void print_version() {
    std::printf("convergent %s; CPU GEMM kernels: %s; MPI: %s\n", convergent_build, cpu::gemm_kernels(),
                dist::compiled() ? "yes (correlate, train)" : "no");
  }

 private:
  struct Opt {
    std::string value, help;
    bool is_flag, given;
  };
  const Opt& get(const std::string& n) const {
    auto it = opts_.find(n);
    if (it == opts_.end()) throw std::logic_error("option --" + n + " not declared");
    return it->second;
  }
  std::string usage_, about_;
  std::map<std::string, Opt> opts_;
  std::map<std::string, std::string> aliases_;
  std::vector<std::string> order_;
  std::vector<std::string> positional_;
};

// The machine results were computed on: CPU model, cores, the CPU GEMM kernels, the build. Printed
// and stored with results, since float sums (hence trained weights) can depend on the GEMM kernels.
inline std::string machine_description() {
  std::string model = "unknown CPU";
  if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "model name", 10) == 0 && std::strchr(line, ':')) {
        model = std::strchr(line, ':') + 2;
        model.erase(model.find_last_not_of(" \n") + 1);
        break;
      }
    std::fclose(f);
  }
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, CPU GEMM kernels " + cpu::gemm_kernels() +
         "; convergent " + convergent_build;
}

// A comma-separated value of --flag as its items, "a,b,c" -> {"a", "b", "c"}; "" -> {} (the flag's
// default). An empty item ("a,,b", ",") is refused, and one given twice unless `repeats` (a tuple
// such as a shape, "1,28,28"): both were typos taken silently.
inline std::vector<std::string> list_items(const std::string& flag, const std::string& s, bool repeats = false) {
  std::vector<std::string> out;
  for (size_t start = 0; !s.empty();) {
    const size_t end = std::min(s.find(',', start), s.size());
    const std::string item = s.substr(start, end - start);
    if (item.empty()) throw UsageError("--" + flag + ": an empty item in '" + s + "'");
    for (const std::string& seen : out)
      if (seen == item && !repeats) throw UsageError("--" + flag + ": " + item + " is given twice");
    out.push_back(item);
    if (end == s.size()) break;
    start = end + 1;
  }
  return out;
}
inline std::vector<std::string> Args::list(const std::string& name) const { return list_items(name, str(name)); }

// Runs a tool's body with the exit-code convention (base/errors.h): usage and input errors
// (InputError and its kinds) -> 2, anything else -> 1, each as one line "error: ..." on stderr. A
// std::logic_error (std::invalid_argument included) is a bug in this program, not bad input: 1.
// `distributed` tools (correlate, train) run as MPI ranks when started by mpirun (base/dist.h): an
// error on any rank is printed as "error: rank R: ..." and stops every rank (MPI_Abort), so no rank
// waits forever and rank 0 writes no results. The other tools refuse to run as several ranks.
inline int run_main(const std::function<int()>& body, bool distributed = false) {
  auto fail = [](int code, const char* what) {
    if (dist::size() > 1) {
      std::fprintf(stderr, "error: rank %d: %s\n", dist::rank(), what);
      dist::abort(code);
    }
    std::fprintf(stderr, "error: %s\n", what);
    return code;
  };
  try {
    if (!distributed && dist::launched_size() > 1)
      throw UsageError("this tool runs as one process; start it without mpirun (only correlate and train run as MPI ranks)");
    std::unique_ptr<dist::Session> session;
    if (distributed) session = std::make_unique<dist::Session>();
    try {
      return body();
    } catch (const InputError& e) {
      return fail(2, e.what());
    } catch (const std::bad_alloc&) {
      return fail(1, "out of host memory");
    } catch (const std::exception& e) {
      return fail(1, e.what());
    }
  } catch (const InputError& e) {
    return fail(2, e.what());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}

}  // namespace cvg::cli
