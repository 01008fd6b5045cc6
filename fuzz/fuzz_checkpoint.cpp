// Checkpoints: header (JSON inside a binary frame) and payload; the CRC is recomputed over the
// input first so the fuzzer reaches the header and payload checks rather than only the checksum.
#include <zlib.h>

#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "nn/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> b(data, data + size);
  if (b.size() >= 4) {
    uint32_t crc = (uint32_t)crc32(0L, b.data(), (uInt)(b.size() - 4));
    std::memcpy(b.data() + b.size() - 4, &crc, 4);
  }
  const std::string path = cvg::fuzz::work_dir() + "/ckpt-000000001.bin";
  cvg::fuzz::write(path, b.data(), b.size());
  cvg::fuzz::expect_clean([&] {
    cvg::Checkpoint ck = cvg::read_checkpoint(path);
    for (const auto& v : ck.params()) cvg::check_path_component(v.name, "parameter name", path);
  });
  return 0;
}
