// Image-folder decoding (stb_image: JPEG, PNG, BMP, PPM/PGM) with the resize + crop pass, small
// sizes so each input is fast; training augmentation on, to reach the random-crop path too.
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "data/readers.h"
#include "fuzz/fuzz_util.h"

namespace {
// A PNG's chunks with their CRCs set right: decode_rgb refuses a chunk whose CRC is wrong, which
// almost every mutation makes it, and stb's PNG decoder behind that check must stay fuzzed.
std::vector<uint8_t> with_png_crcs(const uint8_t* data, size_t size) {
  std::vector<uint8_t> b(data, data + size);
  if (size < 8 || std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) != 0) return b;
  for (size_t p = 8; size - p >= 12;) {
    const size_t len = (size_t)b[p] << 24 | (size_t)b[p + 1] << 16 | (size_t)b[p + 2] << 8 | b[p + 3];
    if (len > size - p - 12) break;
    const uLong crc = crc32(0, &b[p + 4], (uInt)(4 + len));
    for (int k = 0; k < 4; ++k) b[p + 8 + len + k] = (uint8_t)(crc >> (24 - 8 * k));
    p += 12 + len;
  }
  return b;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    std::string d = cvg::fuzz::work_dir() + "/images";
    cvg::make_dirs(d + "/a");
    return d;
  }();
  const std::vector<uint8_t> file = with_png_crcs(data, size);
  cvg::fuzz::write(dir + "/a/x.png", file.data(), file.size());
  cvg::fuzz::expect_clean([&] {
    auto ds = cvg::data::open_image_folder(dir, "train", 24, 16);
    std::vector<float> x(ds->shape().size());
    ds->load(0, x.data(), true, 1);
  });
  return 0;
}
