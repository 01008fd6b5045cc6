// Shared by the libFuzzer targets: each input is written to a file in a per-process folder (the
// readers take paths), and only the project's own errors are expected. Anything else escaping a
// reader (std::out_of_range, json::exception, std::length_error...) aborts, so the fuzzer reports it.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "base/io.h"

namespace cvg::fuzz {

inline const std::string& work_dir() {
  static const std::string dir = [] {
    const char* env = std::getenv("CVG_FUZZ_DIR");  // scripts/fuzz.sh gives a folder it removes afterwards
    std::string d = (env ? std::string(env) : std::string("/tmp")) + "/cvg-fuzz-" + std::to_string(::getpid());
    make_dirs(d);
    return d;
  }();
  return dir;
}

inline void write(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) std::abort();
}

// Runs a reader: InputError (bad input named) and bad_alloc (an allocation the sanitizer refused)
// are the accepted outcomes besides success.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const InputError&) {
  } catch (const std::bad_alloc&) {
  }
}

}  // namespace cvg::fuzz
