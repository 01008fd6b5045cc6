#include "analysis/plot/utf8.h"

namespace cvg::plot {

std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = (unsigned char)s[i];
    const int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    char32_t c = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const unsigned char t = (unsigned char)s[i + k];
      ok = (t >> 6) == 2;
      c = (c << 6) | (t & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8 either.
    static const char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && c >= kMin[len] && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff);
    out.push_back(ok ? c : 0xfffd);
    i += ok ? len : 1;
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += (char)c;
  } else if (c < 0x800) {
    out += (char)(0xc0 | (c >> 6)), out += (char)(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += (char)(0xe0 | (c >> 12)), out += (char)(0x80 | ((c >> 6) & 0x3f)), out += (char)(0x80 | (c & 0x3f));
  } else {
    out += (char)(0xf0 | (c >> 18)), out += (char)(0x80 | ((c >> 12) & 0x3f));
    out += (char)(0x80 | ((c >> 6) & 0x3f)), out += (char)(0x80 | (c & 0x3f));
  }
}

}  // namespace cvg::plot
