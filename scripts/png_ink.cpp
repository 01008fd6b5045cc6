// png_ink FILE.png: prints "WIDTH HEIGHT INK COLOURS" for a screenshot: INK is the fraction of pixels
// that differ from the most common colour (the background) by more than 24 in some channel, COLOURS
// the number of distinct colours after dropping the low 4 bits. scripts/check_report_browser.sh
// uses it to tell a drawn page from a blank one. Exit 2 when the file cannot be decoded.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

int main(int argc, char** argv) {
  if (argc != 2) return std::fprintf(stderr, "usage: png_ink FILE.png\n"), 2;
  int w = 0, h = 0, c = 0;
  unsigned char* px = stbi_load(argv[1], &w, &h, &c, 3);
  if (!px) return std::fprintf(stderr, "error: %s: %s\n", argv[1], stbi_failure_reason()), 2;
  const size_t n = (size_t)w * h;
  std::map<unsigned, size_t> counts;
  std::set<unsigned> colours;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char* p = px + 3 * i;
    ++counts[p[0] << 16 | p[1] << 8 | p[2]];
    colours.insert((p[0] >> 4) << 8 | (p[1] >> 4) << 4 | (p[2] >> 4));
  }
  unsigned bg = 0;
  size_t most = 0;
  for (const auto& [col, k] : counts)
    if (k > most) most = k, bg = col;
  size_t ink = 0;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char* p = px + 3 * i;
    const int d[3] = {p[0] - (int)(bg >> 16), p[1] - (int)(bg >> 8 & 255), p[2] - (int)(bg & 255)};
    if (std::abs(d[0]) > 24 || std::abs(d[1]) > 24 || std::abs(d[2]) > 24) ++ink;
  }
  std::printf("%d %d %.4f %zu\n", w, h, n ? (double)ink / n : 0.0, colours.size());
  stbi_image_free(px);
  return 0;
}
