// An image file's bytes to 8-bit RGB pixels: stb_image 2.27 (Debian 12's libstb-dev) for JPEG, PNG,
// BMP and binary PGM/PPM, behind checks for what that version gets wrong (each found by
// fuzz/fuzz_image.cpp or an audit, each with its test): files it would overflow a buffer on,
// allocate gigabytes for or decode from memory it never wrote are refused, so is a PNG whose chunks
// fail their CRCs (stb would decode its damaged pixels), a top-down BMP is measured by its real
// height, and a PGM/PPM of maxval < 255 is scaled to 0..255 as Netpbm defines.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cvg::data {

constexpr size_t kMaxImagePixels = (size_t)64 << 20;  // 8192x8192: above any photo of a dataset, ~200 MB decoded

struct RgbImage {
  int w = 0, h = 0;
  std::unique_ptr<uint8_t, void (*)(void*)> px{nullptr, nullptr};  // [h][w][3]
};

// InputError naming `path` for a file that is not a whole image stb can decode, or one of more than
// kMaxImagePixels pixels (refused from its header, before any pixel is decoded).
RgbImage decode_rgb(const std::vector<char>& file, const std::string& path);

}  // namespace cvg::data
