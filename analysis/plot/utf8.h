// UTF-8 text as code points, for the font and for XML output.
#pragma once
#include <string>

namespace cvg::plot {

// The code points of `s`; a byte that does not start a valid sequence becomes U+FFFD.
std::u32string utf8_decode(const std::string& s);
void utf8_append(std::string& out, char32_t c);

}  // namespace cvg::plot
