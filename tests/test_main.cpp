// The test runner: doctest, plus the GPU gate, the gpu-check report, and a closing line
// "tests: N passed, N failed, N skipped" that CI reads.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "nn/device.h"
#include "tests/check.h"

namespace cvg::test {

static std::set<std::string> g_skipped;
static int g_failed = 0, g_ran = 0;
static nlohmann::json g_gpu_results = nlohmann::json::array();

bool gpu_or_skip() {
  const char* name = doctest::getContextOptions()->currentTest->m_name;
  if (gpu_count() > 0) return true;
  const char* req = std::getenv("CONVERGENT_REQUIRE_GPU");
  if (req && std::string(req) == "1") {
    FAIL("no GPU found, and make gpu-check requires one");
    return false;
  }
  if (g_skipped.insert(name).second) std::printf("skipped (no GPU): %s\n", name);
  return false;
}

bool library_or_skip(const char* lib, bool available) {
  if (available || !kEmulatedGpu) return true;  // on a real GPU the test itself REQUIREs the library
  const char* name = doctest::getContextOptions()->currentTest->m_name;
  if (g_skipped.insert(name).second) std::printf("skipped (%s needs a real GPU): %s\n", lib, name);
  return false;
}

void record_gpu_result(const std::string& name, double worst) {
  g_gpu_results.push_back({{"name", name}, {"worst_normalised_error", worst}, {"pass", worst <= 1.0}});
}

void record_gpu_result(const std::string& name, double worst, double max_abs_error, const std::string& bound) {
  // JSON has no infinity: an unbounded error (a mismatch where exact was required) is written as null.
  auto finite = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  g_gpu_results.push_back({{"name", name},
                           {"worst_normalised_error", finite(worst)},
                           {"max_abs_error", finite(max_abs_error)},
                           {"bound", bound},
                           {"pass", worst <= 1.0}});
}

struct ClosingLine : doctest::IReporter {
  explicit ClosingLine(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& s) override {
    g_failed = (int)s.numTestCasesFailed;
    g_ran = (int)s.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("closing-line", 1, ClosingLine);

}  // namespace cvg::test

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  if (const char* path = std::getenv("CONVERGENT_GPU_REPORT")) {
    std::ofstream(path) << cvg::test::g_gpu_results.dump(2) << "\n";
  }
  // Last, after doctest's own summary: the line CI reads.
  int skipped = (int)cvg::test::g_skipped.size();
  std::printf("tests: %d passed, %d failed, %d skipped\n", cvg::test::g_ran - cvg::test::g_failed - skipped, cvg::test::g_failed,
              skipped);
  return rc;
}
