#include "base/png.h"

#include <algorithm>
#include <cmath>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include "base/io.h"

namespace cvg {

void Image::paste(const Image& src, int x0, int y0) {
  for (int y = 0; y < src.h; ++y)
    for (int x = 0; x < src.w; ++x) {
      int tx = x0 + x, ty = y0 + y;
      if (tx < 0 || ty < 0 || tx >= w || ty >= h) continue;
      const uint8_t* s = &src.rgb[((size_t)y * src.w + x) * 3];
      std::copy(s, s + 3, at(tx, ty));
    }
}

Image Image::upscaled(int f) const {
  Image out(w * f, h * f);
  for (int y = 0; y < out.h; ++y)
    for (int x = 0; x < out.w; ++x) {
      const uint8_t* s = &rgb[((size_t)(y / f) * w + x / f) * 3];
      std::copy(s, s + 3, out.at(x, y));
    }
  return out;
}

static void append(void* ctx, void* data, int size) {
  auto* buf = static_cast<std::string*>(ctx);
  buf->append(static_cast<const char*>(data), (size_t)size);
}

std::string encode_png(const Image& img) {
  std::string buf;
  if (img.w < 1 || img.h < 1 || !stbi_write_png_to_func(append, &buf, img.w, img.h, 3, img.rgb.data(), img.w * 3))
    throw InputError("PNG encoding of a " + std::to_string(img.w) + " x " + std::to_string(img.h) + " image failed");
  return buf;
}

void write_png(const std::string& path, const Image& img) {
  std::string buf;
  try {
    buf = encode_png(img);
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
  write_file_atomic(path, buf);
}

}  // namespace cvg
