// .npy files: parse, convert, and write back what was read (the rewrite must read back the same).
#include <vector>

#include "base/npy.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<char> file(data, data + size);
  cvg::fuzz::expect_clean([&] {
    cvg::NpyArray a = cvg::parse_npy(file, "input.npy");
    if (a.to_double().size() != a.numel()) std::abort();
    // What we read, we write back so that it reads the same.
    cvg::NpyArray b = cvg::parse_npy(cvg::npy_bytes(a), "rewritten.npy");
    if (b.shape != a.shape || b.dtype != a.dtype || b.bytes != a.bytes) std::abort();
  });
  return 0;
}
