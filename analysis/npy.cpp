#include "analysis/npy.h"

#include <cctype>
#include <cstring>
#include <limits>

#include "nn/io.h"

namespace cvg {

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE float sizes assumed");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy reader assumes a little-endian host"
#endif

namespace {

const char kMagic[] = "\x93NUMPY";

size_t dtype_size(const std::string& d) {
  if (d == "<f4" || d == "<i4") return 4;
  if (d == "<f8" || d == "<i8") return 8;
  if (d == "|u1") return 1;
  return 0;
}

// A tiny parser for the header, a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
struct HeaderParser {
  const std::string& s;
  const std::string& name;
  size_t i = 0;

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(name + ": bad .npy header (" + what + "): " + s.substr(0, 120));
  }
  void skip_ws() { while (i < s.size() && std::isspace((unsigned char)s[i])) ++i; }
  bool eat(char c) {
    skip_ws();
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
  void expect(char c) { if (!eat(c)) fail(std::string("expected '") + c + "'"); }
  std::string str() {
    skip_ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) fail("expected a string");
    char q = s[i++];
    size_t end = s.find(q, i);
    if (end == std::string::npos) fail("unterminated string");
    std::string r = s.substr(i, end - i);
    i = end + 1;
    return r;
  }
  bool boolean() {
    skip_ws();
    if (s.compare(i, 4, "True") == 0) return i += 4, true;
    if (s.compare(i, 5, "False") == 0) return i += 5, false;
    fail("expected True or False");
  }
  std::vector<size_t> tuple() {
    expect('(');
    std::vector<size_t> dims;
    while (!eat(')')) {
      skip_ws();
      if (i >= s.size() || !std::isdigit((unsigned char)s[i])) fail("expected a non-negative dimension");
      size_t v = 0;
      while (i < s.size() && std::isdigit((unsigned char)s[i])) {
        size_t digit = (size_t)(s[i++] - '0');
        if (v > (std::numeric_limits<size_t>::max() - digit) / 10) fail("dimension too large");
        v = v * 10 + digit;
      }
      // Python writes a trailing 'L' for longs in old files.
      if (i < s.size() && s[i] == 'L') ++i;
      dims.push_back(v);
      if (!eat(',')) { expect(')'); break; }
    }
    return dims;
  }
};

void parse_header(const std::string& h, const std::string& name, NpyArray& a) {
  HeaderParser p{h, name};
  bool have_descr = false, have_order = false, have_shape = false, fortran = false;
  p.expect('{');
  while (!p.eat('}')) {
    std::string key = p.str();
    p.expect(':');
    if (key == "descr") {
      a.dtype = p.str(), have_descr = true;
    } else if (key == "fortran_order") {
      fortran = p.boolean(), have_order = true;
    } else if (key == "shape") {
      a.shape = p.tuple(), have_shape = true;
    } else {
      p.fail("unknown key '" + key + "'");
    }
    if (!p.eat(',')) { p.expect('}'); break; }
  }
  if (!have_descr || !have_order || !have_shape) p.fail("needs descr, fortran_order and shape");
  if (fortran) throw InputError(name + ": Fortran-order arrays are not supported (save with numpy.ascontiguousarray)");
  if (a.dtype == "<u1" || a.dtype == "=u1") a.dtype = "|u1";
  if (dtype_size(a.dtype) == 0) {
    if (!a.dtype.empty() && a.dtype[0] == '>')
      throw InputError(name + ": big-endian dtype '" + a.dtype + "' is not supported");
    throw InputError(name + ": unsupported dtype '" + a.dtype + "' (need float32, float64, int32, int64 or uint8)");
  }
}

uint32_t le_u32(const unsigned char* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24); }

template <class Out>
std::vector<Out> convert(const NpyArray& a) {
  size_t n = a.numel();
  std::vector<Out> out(n);
  const char* p = a.bytes.data();
  auto copy_as = [&](auto tag) {
    using In = decltype(tag);
    for (size_t k = 0; k < n; ++k) {
      In v;
      std::memcpy(&v, p + k * sizeof(In), sizeof(In));
      out[k] = (Out)v;
    }
  };
  if (a.dtype == "<f4") copy_as(float{});
  else if (a.dtype == "<f8") copy_as(double{});
  else if (a.dtype == "<i4") copy_as(int32_t{});
  else if (a.dtype == "<i8") copy_as(int64_t{});
  else if (a.dtype == "|u1") copy_as(uint8_t{});
  else throw std::logic_error("NpyArray: unknown dtype " + a.dtype);
  return out;
}

std::string shape_tuple(const std::vector<size_t>& shape) {
  std::string s = "(";
  for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

template <class T>
void write_typed(const std::string& path, const T* data, const std::vector<size_t>& shape, const char* dtype) {
  NpyArray a;
  a.shape = shape;
  a.dtype = dtype;
  a.bytes.resize(a.numel() * sizeof(T));
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), data, a.bytes.size());
  std::vector<char> file = npy_bytes(a);
  write_file_atomic(path, file.data(), file.size());
}

}  // namespace

size_t NpyArray::itemsize() const { return dtype_size(dtype); }

size_t NpyArray::numel() const {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::to_float() const { return convert<float>(*this); }
std::vector<double> NpyArray::to_double() const { return convert<double>(*this); }

NpyArray parse_npy(const std::vector<char>& file, const std::string& name) {
  const auto* u = reinterpret_cast<const unsigned char*>(file.data());
  if (file.size() < 10 || std::memcmp(file.data(), kMagic, 6) != 0)
    throw InputError(name + ": not a .npy file (bad magic)");
  int major = u[6], minor = u[7];
  size_t prefix, header_len;
  if (major == 1 && minor == 0) {
    prefix = 10, header_len = u[8] | (u[9] << 8);
  } else if (major == 2 && minor == 0) {
    if (file.size() < 12) throw InputError(name + ": truncated .npy header");
    prefix = 12, header_len = le_u32(u + 8);
  } else {
    throw InputError(name + ": unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));
  }
  if (file.size() - prefix < header_len) throw InputError(name + ": truncated .npy header");
  NpyArray a;
  parse_header(std::string(file.data() + prefix, header_len), name, a);

  // Element count and byte size, guarding against overflow from absurd shapes.
  size_t numel = 1, item = a.itemsize();
  for (size_t d : a.shape) {
    if (d != 0 && numel > std::numeric_limits<size_t>::max() / d) throw InputError(name + ": shape too large");
    numel *= d;
  }
  if (numel > std::numeric_limits<size_t>::max() / item) throw InputError(name + ": shape too large");
  size_t need = numel * item, have = file.size() - prefix - header_len;
  if (have < need)
    throw InputError(name + ": truncated data (" + std::to_string(have) + " of " + std::to_string(need) + " bytes)");
  if (have > need)
    throw InputError(name + ": " + std::to_string(have - need) + " unexpected bytes after the array data");
  a.bytes.assign(file.begin() + (ptrdiff_t)(prefix + header_len), file.end());
  return a;
}

NpyArray read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

std::vector<char> npy_bytes(const NpyArray& a) {
  if (a.itemsize() == 0) throw std::invalid_argument("write_npy: unsupported dtype '" + a.dtype + "'");
  if (a.bytes.size() != a.numel() * a.itemsize()) throw std::invalid_argument("write_npy: data size does not match the shape");
  std::string dict = "{'descr': '" + a.dtype + "', 'fortran_order': False, 'shape': " + shape_tuple(a.shape) + ", }";
  // Pad with spaces and a final newline so the data starts on a 64-byte boundary, as numpy does.
  size_t prefix = 10;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  if (total - prefix > 65535) prefix = 12, total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  size_t header_len = total - prefix;
  dict.append(header_len - dict.size() - 1, ' ');
  dict += '\n';

  std::vector<char> out(total + a.bytes.size());
  std::memcpy(out.data(), kMagic, 6);
  out[6] = prefix == 10 ? 1 : 2;
  out[7] = 0;
  for (size_t k = 0; k < prefix - 8; ++k) out[8 + k] = (char)((header_len >> (8 * k)) & 0xff);
  std::memcpy(out.data() + prefix, dict.data(), dict.size());
  if (!a.bytes.empty()) std::memcpy(out.data() + total, a.bytes.data(), a.bytes.size());
  return out;
}

void write_npy(const std::string& path, const float* d, const std::vector<size_t>& s) { write_typed(path, d, s, "<f4"); }
void write_npy(const std::string& path, const double* d, const std::vector<size_t>& s) { write_typed(path, d, s, "<f8"); }
void write_npy(const std::string& path, const int32_t* d, const std::vector<size_t>& s) { write_typed(path, d, s, "<i4"); }
void write_npy(const std::string& path, const int64_t* d, const std::vector<size_t>& s) { write_typed(path, d, s, "<i8"); }

}  // namespace cvg
