// Helpers shared by the test suites: random data, elementwise comparison with a tolerance or bit
// for bit, the CPU's vector extensions, and the GPU gate (skip with a printed line when no GPU exists; fail instead under `make gpu-check`).
#pragma once
#include <doctest/doctest.h>

#include <stdlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/init.h"
#include "kernels/rng.h"

namespace cvg::test {

inline std::vector<float> randn(size_t n, uint64_t seed, float std = 1.0f, float mean = 0.0f) {
  std::vector<float> v(n);
  cpu::fill_gaussian(n, v.data(), mean, std, seed, 0x7e57);
  return v;
}
inline std::vector<float> randu(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * rng_uniform(seed, 0x7e58, i);
  return v;
}

// Same size and the same bits (NaN payloads and the sign of zero included).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Whether this CPU runs our AVX2 kernels (AVX2 and FMA), and our AVX-512 ones.
inline bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
inline bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
}

// Worst-case normalised error: max_i |a_i - b_i| / (atol + rtol |b_i|). <= 1 means within tolerance.
template <class A, class B>
double worst_error(const A& a, const B& b, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    double e = std::fabs((double)a[i] - (double)b[i]) / (atol + rtol * std::fabs((double)b[i]));
    if (!(e <= worst)) worst = std::isnan(e) ? INFINITY : e;
  }
  return worst;
}

// CHECK that got ~= want elementwise; on failure reports the first offending index and values.
#define CHECK_ALL_CLOSE(got, want, atol, rtol)                                                       \
  do {                                                                                               \
    const auto& g_ = (got);                                                                          \
    const auto& w_ = (want);                                                                         \
    REQUIRE(g_.size() == w_.size());                                                                 \
    size_t bad_ = 0, first_ = 0;                                                                     \
    for (size_t i_ = 0; i_ < w_.size(); ++i_) {                                                      \
      double d_ = std::fabs((double)g_[i_] - (double)w_[i_]);                                        \
      if (!(d_ <= (atol) + (rtol)*std::fabs((double)w_[i_]))) {                                      \
        if (!bad_++) first_ = i_;                                                                    \
      }                                                                                              \
    }                                                                                                \
    INFO("first mismatch at ", first_, ": got ", (double)g_[first_], ", want ", (double)w_[first_]); \
    INFO("worst normalised error ", cvg::test::worst_error(g_, w_, (atol), (rtol)));                 \
    CHECK(bad_ == 0);                                                                                \
  } while (0)

#ifdef CONVERGENT_CUDA_EMU
constexpr bool kEmulatedGpu = true;  // make CUDA=emu: the "GPU" is tests/emu/, fibers on the CPU
#else
constexpr bool kEmulatedGpu = false;
#endif
// The one place a GPU test case may shrink: `full` on a real GPU, `emulated` on the emulated one,
// where every GPU thread is a fiber (~1e5-1e6 threads/s). Sizes shrink; assertions never do.
template <class T>
constexpr T emu_scale(T full, T emulated) {
  return kEmulatedGpu ? emulated : full;
}

// True when a GPU is present. Otherwise prints "skipped (no GPU): <test>" and returns false, or,
// under `make gpu-check` (CONVERGENT_REQUIRE_GPU=1), fails the test.
bool gpu_or_skip();
// For GPU checks that need one of NVIDIA's libraries (cuBLAS, cuSOLVER, cuDNN). On the emulated GPU,
// where they cannot run, prints "skipped (<lib> needs a real GPU): <test>" and returns false; else
// returns true, and on a real GPU a missing library is the test's own failure to report.
bool library_or_skip(const char* lib, bool available);
// GPU-vs-CPU results are also written to the gpu-check JSON report: name, worst normalised error,
// and where known the largest absolute difference and the bound it was held to.
void record_gpu_result(const std::string& name, double worst_normalised_error);
void record_gpu_result(const std::string& name, double worst_normalised_error, double max_abs_error, const std::string& bound);

// The message of the E that f throws, or "(no error)": for tests of what an error says.
template <class E = std::exception>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

// A fresh folder under $TMPDIR (else /tmp), removed with everything in it when it goes out of scope,
// whether the test passed, failed or threw: a CaffeNet checkpoint is ~450 MB, and folders left behind
// by every run once filled the CI machine's disk.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& what) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/cvg-test-" + what + ".XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error(tmpl + ": cannot create a scratch folder");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace cvg::test
