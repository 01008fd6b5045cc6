// .safetensors files (bin/import): parse and convert; every tensor read must hold exactly the
// number of values its shape says.
#include <cstdlib>

#include "nn/import.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cvg::fuzz::expect_clean([&] {
    for (const cvg::NamedTensor& t : cvg::parse_safetensors(data, size)) {
      size_t n = 1;
      for (int d : t.shape) n *= (size_t)d;
      if (t.values.size() != n) std::abort();
    }
  });
  return 0;
}
