#include "data/image_decode.h"

#include <stb/stb_image.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "base/errors.h"

namespace cvg::data {

namespace {

// stb_image 2.27 builds a JPEG Huffman table from 16 code counts without checking that they sum to
// at most 256, and writes past its 257-entry size list when they do (fixed upstream in 2.28). So
// every table stb would read is checked first, found the way stb finds them: segments are skipped
// by their declared lengths (stb skips APPn and comment segments unread, and fails on any other
// whose contents disagree with its length), and elsewhere (entropy-coded data, junk between
// segments) an 0xFF, any number of 0xFF fill bytes and a byte other than 0x00 make a marker. The
// walk ends at the end-of-image marker, where stb stops reading.
void check_jpeg_huffman_tables(const std::vector<char>& file, const std::string& path) {
  const auto* b = reinterpret_cast<const uint8_t*>(file.data());
  const size_t n = file.size();
  // A JPEG to stb: 0xFF, any number of 0xFF fill bytes, then the start-of-image marker 0xD8.
  size_t p = 0;
  while (p < n && b[p] == 0xFF) ++p;
  if (p == 0 || p >= n || b[p] != 0xD8) return;                    // not a JPEG
  auto at = [&](size_t k) -> size_t { return k < n ? b[k] : 0; };  // stb reads zeros past the end
  for (++p; p < n;) {
    if (b[p++] != 0xFF) continue;
    while (p < n && b[p] == 0xFF) ++p;
    if (p >= n) return;
    const uint8_t m = b[p++];
    if (m == 0xD9) return;                                             // end of image
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // stuffed 0xFF, TEM, restart, SOI: no length
    const long len = (long)(at(p) << 8 | at(p + 1));
    if (len < 2) return;  // stb fails on it
    if (m == 0xC4)
      for (size_t t = p + 2; t < p + len;) {  // tables: class/id byte, 16 code counts, the codes
        size_t codes = 0;
        for (size_t k = 1; k <= 16; ++k) codes += at(t + k);
        if (codes > 256)
          throw InputError(path + ": corrupt JPEG (a Huffman table declares " + std::to_string(codes) +
                           " codes, at most 256 exist)");
        t += 17 + codes;
      }
    p += len;
  }
}

// stb_image reserves a PNG chunk's declared length before reading it: a 133-byte file declaring a
// 2 GB IDAT chunk made it allocate 2 GB. And it checks neither the chunks' CRCs nor zlib's Adler-32:
// a PNG with one damaged byte in its pixel data decoded, silently, to other pixels. So every chunk
// before IEND, where stb stops, must fit in the file and match its CRC, and IEND must come.
void check_png_chunks(const std::vector<char>& file, const std::string& path) {
  const auto* b = reinterpret_cast<const uint8_t*>(file.data());
  const size_t n = file.size();
  if (n < 8 || std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0) return;  // not a PNG
  auto be32 = [&](size_t k) { return (uint32_t)b[k] << 24 | (uint32_t)b[k + 1] << 16 | (uint32_t)b[k + 2] << 8 | b[k + 3]; };
  for (size_t p = 8;;) {
    if (n - p < 8) throw InputError(path + ": truncated PNG (it ends before its IEND chunk)");
    if (std::memcmp(b + p + 4, "IEND", 4) == 0) return;
    const size_t len = be32(p);
    if (len + 4 > n - p - 8)
      throw InputError(path + ": truncated PNG (a chunk declares " + std::to_string(len) + " bytes and its CRC, " +
                       std::to_string(n - p - 8) + " bytes remain)");
    if (crc32(0, b + p + 4, (uInt)(4 + len)) != be32(p + 8 + len)) {
      const bool named = std::all_of(b + p + 4, b + p + 8, [](uint8_t c) { return std::isalpha(c); });
      throw InputError(path + ": corrupt PNG (" + (named ? "its " + std::string((const char*)b + p + 4, 4) : std::string("a")) +
                       " chunk fails its CRC check)");
    }
    p += 12 + len;
  }
}

// A binary PGM/PPM header read as stb 2.27 reads it (whitespace and # comments between the numbers;
// the pixels start one byte after the maxval's digits), with what stb does not check: a number of
// more than 9 digits overflows its int, a 16-bit file (maxval > 255) overflows its RGB conversion,
// maxval 0 has no scale, and stb fills the pixels a short file lacks from memory it never wrote.
// Returns the maxval, or 0 when the file is not a PGM/PPM or its header is not stb's to accept.
long check_pnm(const std::vector<char>& file, const std::string& path) {
  if (file.size() < 2 || file[0] != 'P' || (file[1] != '5' && file[1] != '6')) return 0;
  long v[3];  // width, height, maxval
  size_t p = 2;
  for (int field = 0; field < 3; ++field) {
    while (p < file.size() && (std::isspace((unsigned char)file[p]) || file[p] == '#')) {
      if (file[p] == '#')
        while (p < file.size() && file[p] != '\n' && file[p] != '\r') ++p;
      else
        ++p;
    }
    size_t digits = 0;
    v[field] = 0;
    for (; p < file.size() && std::isdigit((unsigned char)file[p]) && digits <= 9; ++p, ++digits)
      v[field] = v[field] * 10 + (file[p] - '0');
    if (digits > 9) throw InputError(path + ": PGM/PPM header number of more than 9 digits");
    if (digits == 0) return 0;  // not a number: stb reports the header as corrupt
  }
  if (v[2] > 255) throw InputError(path + ": 16-bit PGM/PPM (maxval above 255) is not supported; convert it to 8 bits");
  if (v[2] == 0) throw InputError(path + ": PGM/PPM of maxval 0");
  const size_t need = p + 1 + (size_t)v[0] * (size_t)v[1] * (file[1] == '6' ? 3 : 1);
  if (file.size() < need)
    throw InputError(path + ": truncated PGM/PPM (" + std::to_string(file.size()) + " bytes, its header needs " +
                     std::to_string(need) + ")");
  return v[2];
}

// stb_image reads a BMP's missing pixel rows as zeros: an uncompressed BMP must hold every row its
// header declares (the last one may lack its padding to 4 bytes).
void check_bmp_size(const std::vector<char>& file, const std::string& path) {
  const auto* b = reinterpret_cast<const uint8_t*>(file.data());
  const size_t n = file.size();
  if (n < 26 || b[0] != 'B' || b[1] != 'M') return;
  auto u16 = [&](size_t k) { return (uint32_t)b[k] | (uint32_t)b[k + 1] << 8; };
  auto u32 = [&](size_t k) { return u16(k) | u16(k + 2) << 16; };
  const uint32_t offset = u32(10), header = u32(14);
  long long w, h;
  uint32_t bpp, compression = 0;
  if (header == 12) {  // OS/2: 16-bit sizes
    w = u16(18), h = u16(20), bpp = u16(24);
  } else if (header >= 40 && n >= 34) {
    w = (int32_t)u32(18), h = (int32_t)u32(22), bpp = u16(28), compression = u32(30);
  } else {
    return;  // stb refuses it
  }
  if ((compression != 0 && compression != 3) || w <= 0 || h == 0 || bpp == 0) return;  // stb decides
  const unsigned long long rows = (unsigned long long)std::llabs(h), stride = ((unsigned long long)bpp * w + 31) / 32 * 4;
  const unsigned long long need = offset + stride * (rows - 1) + ((unsigned long long)bpp * w + 7) / 8;
  if (n < need)
    throw InputError(path + ": truncated BMP (" + std::to_string(n) + " bytes, its header needs " + std::to_string(need) + ")");
}

// The format a file's first bytes name, for messages: stb reports the failure of the last decoder it
// tried ("bad png sig" for a truncated JPEG), not of the one the file was for.
std::string format_of(const std::vector<char>& file) {
  auto starts = [&](const char* magic, size_t len) { return file.size() >= len && std::memcmp(file.data(), magic, len) == 0; };
  if (starts("\xff\xd8", 2)) return "JPEG";
  if (starts("\x89PNG", 4)) return "PNG";
  if (starts("BM", 2)) return "BMP";
  if (starts("GIF8", 4)) return "GIF";
  if (starts("P5", 2) || starts("P6", 2)) return "PGM/PPM";
  return "";
}

}  // namespace

RgbImage decode_rgb(const std::vector<char>& file, const std::string& path) {
  if (file.size() > (size_t)INT32_MAX) throw InputError(path + ": larger than 2 GB, not an image this reader takes");
  const auto* bytes = reinterpret_cast<const stbi_uc*>(file.data());
  // Before any stb call: stbi_info parses JPEG tables too.
  check_jpeg_huffman_tables(file, path);
  check_png_chunks(file, path);
  check_bmp_size(file, path);
  const long maxval = check_pnm(file, path);
  // The header's size first: a file that declares 20000x20000 pixels must not get 1.2 GB per thread.
  // (stbi_info gives a top-down BMP's height as negative.)
  int w = 0, h = 0, channels = 0;
  if (stbi_info_from_memory(bytes, (int)file.size(), &w, &h, &channels) &&
      (size_t)std::abs(w) * (size_t)std::abs(h) > kMaxImagePixels)
    throw InputError(path + ": image of " + std::to_string(std::abs(w)) + "x" + std::to_string(std::abs(h)) +
                     " pixels is larger than the " + std::to_string(kMaxImagePixels >> 20) + " Mpixel limit");
  RgbImage im;
  im.px = {stbi_load_from_memory(bytes, (int)file.size(), &im.w, &im.h, &channels, 3), stbi_image_free};
  if (!im.px) {
    const char* why = stbi_failure_reason();
    const std::string format = format_of(file), reason = why && *why ? why : "unknown error";
    if (format.empty()) throw InputError(path + ": cannot decode image (stb_image says: " + reason + ")");
    throw InputError(path + ": cannot decode image: a " + format + " that is truncated, corrupt or of a kind stb_image " +
                     "does not read (it says: " + reason + ")");
  }
  // stb accepts a PNM header of height 0 ("P6 2 0 255"): no pixels to resample from.
  if (im.w <= 0 || im.h <= 0)
    throw InputError(path + ": image of " + std::to_string(im.w) + "x" + std::to_string(im.h) + " pixels is empty");
  if (maxval > 0 && maxval < 255) {  // stb passes the values on as they are
    uint8_t* px = im.px.get();
    for (size_t i = 0, count = (size_t)im.w * im.h * 3; i < count; ++i) {
      if (px[i] > maxval)
        throw InputError(path + ": PGM/PPM value " + std::to_string(px[i]) + " above its maxval " + std::to_string(maxval));
      px[i] = (uint8_t)((px[i] * 255 + maxval / 2) / maxval);
    }
  }
  return im;
}

}  // namespace cvg::data
