#include "base/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "base/io.h"

namespace cvg {

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE float sizes assumed");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy reader assumes a little-endian host"
#endif

namespace {

const char kMagic[] = "\x93NUMPY";

size_t dtype_size(const std::string& d) {
  if (d == "<f4" || d == "<i4" || d == "<u4") return 4;
  if (d == "<f8" || d == "<i8" || d == "<u8") return 8;
  if (d == "<i2" || d == "<u2") return 2;
  if (d == "|u1" || d == "|i1" || d == "|b1") return 1;
  return 0;
}

// A tiny parser for the header, a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
struct HeaderParser {
  const std::string& s;
  const std::string& name;
  size_t i = 0;

  // Quotes the header's start on one line: a damaged header may hold newlines and binary bytes.
  [[noreturn]] void fail(const std::string& what) const {
    std::string shown;
    for (size_t k = 0; k < std::min<size_t>(s.size(), 100); ++k) {
      const unsigned char c = (unsigned char)s[k];
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      shown += c >= 0x20 && c < 0x7f ? std::string(1, (char)c) : std::string(hex);
    }
    throw InputError(name + ": bad .npy header (" + what + "): " + shown + (s.size() > 100 ? "..." : ""));
  }
  void skip_ws() {
    while (i < s.size() && std::isspace((unsigned char)s[i])) ++i;
  }
  bool eat(char c) {
    skip_ws();
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
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
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return dims;
  }
};

// How a file stores its elements when that is not NpyArray's C order, little-endian.
struct Layout {
  bool fortran = false, big_endian = false;
  bool native() const { return !fortran && !big_endian; }
};

// Parses the header dict into a's shape and dtype (in its little-endian spelling) and the layout.
void parse_header(const std::string& h, const std::string& name, NpyArray& a, Layout& layout) {
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
    if (!p.eat(',')) {
      p.expect('}');
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape) p.fail("needs descr, fortran_order and shape");
  p.skip_ws();  // numpy pads the dict with spaces and ends it with a newline; anything else is not a header
  if (p.i != h.size()) p.fail("bytes after the dict");
  const std::string given = a.dtype;
  // One-byte types have no byte order: numpy writes '|', others may write '<', '=' or '>'.
  if (a.dtype.size() == 3 && a.dtype[2] == '1' && (a.dtype[0] == '<' || a.dtype[0] == '=' || a.dtype[0] == '>')) a.dtype[0] = '|';
  layout = Layout{};
  layout.fortran = fortran && a.shape.size() > 1;  // a vector's Fortran order is its C order
  if (a.dtype.size() == 3 && a.dtype[0] == '>') a.dtype[0] = '<', layout.big_endian = true;
  if (dtype_size(a.dtype) == 0)
    throw InputError(name + ": unsupported dtype '" + given + "' (need float32/64, int8/16/32/64, uint8/16/32/64 or bool)");
}

// The elements of `src` (stored with `layout`) as NpyArray holds them: byte-swapped when
// big-endian, transposed from Fortran order (first index fastest) to C order.
void to_native(NpyArray& a, const char* src, const Layout& layout) {
  const size_t n = a.numel(), item = a.itemsize();
  a.bytes.resize(n * item);
  if (!layout.fortran) {
    if (n) std::memcpy(a.bytes.data(), src, n * item);
  } else {
    // Walk the source in its order (index 0 fastest) and place each element at its C offset.
    const size_t dims = a.shape.size();
    std::vector<size_t> index(dims, 0), c_stride(dims, 1);
    for (size_t k = dims - 1; k > 0; --k) c_stride[k - 1] = c_stride[k] * a.shape[k];
    size_t c = 0;
    for (size_t f = 0; f < n; ++f) {
      std::memcpy(a.bytes.data() + c * item, src + f * item, item);
      for (size_t k = 0; k < dims; ++k) {  // next index, first dimension fastest
        c += c_stride[k];
        if (++index[k] < a.shape[k]) break;
        c -= c_stride[k] * a.shape[k], index[k] = 0;
      }
    }
  }
  if (layout.big_endian)
    for (size_t k = 0; k < n; ++k) std::reverse(a.bytes.data() + k * item, a.bytes.data() + (k + 1) * item);
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
  if (a.dtype == "<f4")
    copy_as(float{});
  else if (a.dtype == "<f8")
    copy_as(double{});
  else if (a.dtype == "<i4")
    copy_as(int32_t{});
  else if (a.dtype == "<i8")
    copy_as(int64_t{});
  else if (a.dtype == "<u4")
    copy_as(uint32_t{});
  else if (a.dtype == "<u8")
    copy_as(uint64_t{});
  else if (a.dtype == "<i2")
    copy_as(int16_t{});
  else if (a.dtype == "<u2")
    copy_as(uint16_t{});
  else if (a.dtype == "|u1")
    copy_as(uint8_t{});
  else if (a.dtype == "|i1")
    copy_as(int8_t{});
  else if (a.dtype == "|b1") {  // a byte each; numpy reads any nonzero byte as True (a bool load of 2..255 is UB)
    for (size_t k = 0; k < n; ++k) out[k] = (Out)(p[k] != 0);
  } else
    throw std::logic_error("NpyArray: unknown dtype " + a.dtype);
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
std::vector<double> NpyArray::to_finite_double(const std::string& path) const {
  std::vector<double> v = to_double();
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw InputError(path + ": value " + std::to_string(i) + " is NaN or infinite (damaged?)");
  return v;
}

namespace {

// Parses the magic, version and header held in head[0, head_size) of a file of file_size bytes,
// fills a's shape and dtype, checks that the data fills the rest of the file exactly and returns
// where the data starts. head_size may stop anywhere after the header.
size_t parse_head(const char* head, size_t head_size, size_t file_size, const std::string& name, NpyArray& a, Layout& layout) {
  const auto* u = reinterpret_cast<const unsigned char*>(head);
  if (head_size < 10 || std::memcmp(head, kMagic, 6) != 0) throw InputError(name + ": not a .npy file (bad magic)");
  int major = u[6], minor = u[7];
  size_t prefix, header_len;
  if (major == 1 && minor == 0) {
    prefix = 10, header_len = u[8] | (u[9] << 8);
  } else if (major == 2 && minor == 0) {
    if (head_size < 12) throw InputError(name + ": truncated .npy header");
    prefix = 12, header_len = le_u32(u + 8);
  } else {
    throw InputError(name + ": unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor));
  }
  if (head_size - prefix < header_len) throw InputError(name + ": truncated .npy header");
  parse_header(std::string(head + prefix, header_len), name, a, layout);

  // Element count and byte size, guarding against overflow from absurd shapes.
  size_t numel = 1, item = a.itemsize();
  for (size_t d : a.shape) {
    if (d != 0 && numel > std::numeric_limits<size_t>::max() / d) throw InputError(name + ": shape too large");
    numel *= d;
  }
  if (numel > std::numeric_limits<size_t>::max() / item) throw InputError(name + ": shape too large");
  size_t need = numel * item, have = file_size - prefix - header_len;
  if (have < need)
    throw InputError(name + ": truncated data (" + std::to_string(have) + " of " + std::to_string(need) + " bytes)");
  if (have > need) throw InputError(name + ": " + std::to_string(have - need) + " unexpected bytes after the array data");
  return prefix + header_len;
}

// An open .npy file whose header has been read: the data follows at the file's current offset.
struct OpenNpy {
  int fd = -1;
  std::string path;
  NpyArray meta;  // shape and dtype, no bytes
  Layout layout;
  ~OpenNpy() {
    if (fd >= 0) ::close(fd);
  }

  size_t file_size = 0, data_at = 0;

  explicit OpenNpy(const std::string& p) : path(p) {
    fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO opens at once (and is refused below), not waits
    if (fd < 0) throw InputError(p + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) throw InputError(p + ": cannot read (not a regular file)");
    const size_t size = file_size = (size_t)st.st_size;
    // The fixed prefix first, then exactly the header it announces.
    std::vector<char> head(std::min<size_t>(size, 12));
    read_exactly(head.data(), head.size());
    size_t header_end = head.size();
    if (head.size() >= 10 && std::memcmp(head.data(), kMagic, 6) == 0) {
      const auto* u = reinterpret_cast<const unsigned char*>(head.data());
      header_end = u[6] == 2 && head.size() >= 12 ? 12 + (size_t)le_u32(u + 8) : 10 + (size_t)(u[8] | (u[9] << 8));
      header_end = std::min(header_end, size);
    }
    if (header_end > head.size()) {
      size_t had = head.size();
      head.resize(header_end);
      read_exactly(head.data() + had, header_end - had);
    }
    data_at = parse_head(head.data(), head.size(), size, p, meta, layout);
    if (::lseek(fd, (off_t)data_at, SEEK_SET) != (off_t)data_at) throw InputError(p + ": cannot read (seek failed)");
  }

  void read_exactly(char* dst, size_t bytes) {
    while (bytes > 0) {
      ssize_t got = ::read(fd, dst, std::min<size_t>(bytes, size_t(1) << 30));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw InputError(path + ": read failed (" + std::strerror(errno) + ")");
      if (got == 0) throw InputError(path + ": truncated (the file shrank while it was read)");
      dst += got, bytes -= (size_t)got;
    }
  }
};

}  // namespace

NpyArray parse_npy(const std::vector<char>& file, const std::string& name) {
  NpyArray a;
  Layout layout;
  size_t data_at = parse_head(file.data(), file.size(), file.size(), name, a, layout);
  to_native(a, file.data() + data_at, layout);
  return a;
}

// C order, little-endian data go from the file straight into their final buffer with one read (no
// whole-file copy); other layouts through a second buffer.
NpyArray read_npy(const std::string& path) {
  OpenNpy f(path);
  NpyArray a = std::move(f.meta);
  if (f.layout.native()) {
    a.bytes.resize(a.numel() * a.itemsize());
    f.read_exactly(a.bytes.data(), a.bytes.size());
  } else {
    std::vector<char> stored(a.numel() * a.itemsize());
    f.read_exactly(stored.data(), stored.size());
    to_native(a, stored.data(), f.layout);
  }
  return a;
}

NpyMapped::NpyMapped(const std::string& path) {
  OpenNpy f(path);
  meta_ = std::move(f.meta);
  native_ = f.layout.native(), fortran_ = f.layout.fortran, big_endian_ = f.layout.big_endian;
  size_ = f.file_size, offset_ = f.data_at;
  // MAP_POPULATE maps the page-cache pages up front: one system call instead of a fault per page.
  map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, f.fd, 0);
  if (map_ == MAP_FAILED) map_ = nullptr, throw InputError(path + ": cannot map (" + std::strerror(errno) + ")");
}

NpyArray NpyMapped::copy() const {
  NpyArray a = meta_;
  to_native(a, static_cast<const char*>(data()), Layout{fortran_, big_endian_});
  return a;
}

NpyMapped::~NpyMapped() {
  if (map_) ::munmap(map_, size_);
}

std::vector<char> npy_bytes(const NpyArray& a) {
  if (a.itemsize() == 0) throw std::logic_error("write_npy: unsupported dtype '" + a.dtype + "'");
  if (a.bytes.size() != a.numel() * a.itemsize()) throw std::logic_error("write_npy: data size does not match the shape");
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
