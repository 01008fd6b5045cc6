// The error taxonomy (base/errors.h) as run_main maps it to exit codes, and the library's messages
// going through the tool's log sink (base/log.h) instead of straight to stderr.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "base/cli.h"
#include "base/errors.h"
#include "base/log.h"
#include "base/progress.h"
#include "kernels/gemm.h"
#include "nn/checkpoint.h"
#include "nn/device.h"
#include "tests/check.h"

using namespace cvg;

namespace {

// Collects every message while alive; the default sink comes back afterwards.
struct Captured {
  std::vector<std::pair<LogLevel, std::string>> lines;
  Captured() {
    set_log_sink([this](LogLevel l, const std::string& m) { lines.emplace_back(l, m); });
  }
  ~Captured() { set_log_sink(nullptr); }
};

}  // namespace

TEST_CASE("errors: bad input exits 2, a bug or a failure exits 1") {
  auto code = [](auto thrower) {
    return cli::run_main([&]() -> int {
      thrower();
      return 0;
    });
  };
  CHECK(code([] { throw InputError("bad file"); }) == 2);
  CHECK(code([] { throw UsageError("--x needs a value"); }) == 2);
  CHECK(code([] { throw NewerFormatError("newer checkpoint"); }) == 2);
  // std::invalid_argument is a std::logic_error: a bug in this program, no longer "bad input".
  CHECK(code([] { throw std::invalid_argument("negative size"); }) == 1);
  CHECK(code([] { throw std::logic_error("internal"); }) == 1);
  CHECK(code([] { throw CudaError("launch failed"); }) == 1);
  CHECK(code([] {}) == 0);
}

TEST_CASE("errors: user input throws InputError, internal checks std::logic_error") {
  CHECK_THROWS_WITH_AS(parse_device("gpu0"), "bad device 'gpu0': expected cpu, cuda, cuda:N or auto", InputError);
  CHECK_THROWS_AS(parse_device("cuda:x"), InputError);
  std::vector<float> a(16), c(16);
  CHECK_THROWS_WITH_AS(cpu::gemm(false, false, -1, 4, 4, 1, a.data(), 4, a.data(), 4, 0, c.data(), 4),
                       "gemm: negative size (m -1, n 4, k 4)", std::logic_error);
}

TEST_CASE("log: library notes and warnings go through the tool's sink") {
  test::ScratchDir scratch("log");
  const std::string& dir = scratch.path();
  std::ofstream(dir + "/ckpt-000000001.bin") << "not a checkpoint";
  {
    Captured cap;
    Checkpoint ck;
    CHECK_FALSE(read_newest_checkpoint(dir, &ck, /*skip_all_damaged=*/true));
    REQUIRE(cap.lines.size() == 1);
    CHECK(cap.lines[0].first == LogLevel::warning);
    CHECK(cap.lines[0].second.find("ckpt-000000001.bin") != std::string::npos);
    CHECK(cap.lines[0].second.find("; trying the previous checkpoint") != std::string::npos);
    CHECK(cap.lines[0].second.find('\n') == std::string::npos);  // one line; the sink adds the newline

    if (gpu_count() == 0) {  // "auto" on a machine without a GPU notes that it falls back to the CPU
      cap.lines.clear();
      CHECK_FALSE(parse_device("auto").is_cuda());
      REQUIRE(cap.lines.size() == 1);
      CHECK(cap.lines[0].first == LogLevel::note);
      CHECK(cap.lines[0].second.rfind("no GPU found", 0) == 0);
    }

    cap.lines.clear();  // a sink that is not a terminal gets plain progress lines, the last one complete
    Progress bar("pass", 2, "img");
    bar.update(2, 64);
    REQUIRE(cap.lines.size() == 1);
    CHECK(cap.lines[0].first == LogLevel::progress);
    CHECK(cap.lines[0].second.rfind("pass [########################] 2/2", 0) == 0);
    CHECK(cap.lines[0].second.back() == '\n');
  }
}
