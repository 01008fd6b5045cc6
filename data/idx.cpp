// IDX reader (MNIST, Fashion-MNIST): big-endian header, unsigned bytes, plain or gzip.
// Images: magic 0x00000803, then n, rows, cols, then n*rows*cols pixels (row-major, 0 = background).
// Labels: magic 0x00000801, then n, then n bytes, each < 10.
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "data/readers.h"

namespace cvg::data {

namespace {

constexpr int kClasses = 10;

uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// The first of dir/base, dir/base.gz that exists.
std::string find_file(const std::string& dir, const std::string& base, const std::string& hint) {
  const std::string plain = dir + "/" + base, gz = plain + ".gz";
  if (file_exists(plain)) return plain;
  if (file_exists(gz)) return gz;
  throw InputError(gz + ": not found (nor " + base + ")" + hint);
}

void check_size(const std::string& path, size_t have, uint64_t want, const std::string& what) {
  if (have < want)
    throw InputError(path + ": truncated: " + std::to_string(have) + " bytes, but " + what + " needs " + std::to_string(want));
  if (have > want) throw InputError(path + ": " + std::to_string(have - want) + " bytes of trailing data after " + what);
}

}  // namespace

std::vector<uint8_t> read_maybe_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  gzbuffer(f, 1 << 18);
  std::vector<uint8_t> out;
  const size_t chunk = 1 << 22;
  int got = 0;
  do {
    const size_t old = out.size();
    out.resize(old + chunk);
    got = gzread(f, out.data() + old, (unsigned)chunk);
    out.resize(old + (got > 0 ? (size_t)got : 0));
  } while (got > 0);
  int err = Z_OK;
  const char* msg = gzerror(f, &err);
  // Z_BUF_ERROR at the end means the gzip stream stopped early (zlib keeps what it decoded).
  std::string why = err == Z_OK          ? ""
                    : err == Z_BUF_ERROR ? "truncated gzip data"
                    : err == Z_ERRNO     ? std::string("read failed (") + std::strerror(errno) + ")"
                                         : std::string("corrupt gzip data (") + msg + ")";
  gzclose(f);
  if (got < 0 && why.empty()) why = "read failed";
  if (!why.empty()) throw InputError(path + ": " + why);
  return out;
}

std::unique_ptr<Dataset> open_idx(const std::string& name, const std::string& dir, const std::string& split, Normalisation norm,
                                  const std::string& hint) {
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string img_path = find_file(dir, prefix + "-images-idx3-ubyte", hint);
  const std::string lbl_path = find_file(dir, prefix + "-labels-idx1-ubyte", hint);

  std::vector<uint8_t> img = read_maybe_gz(img_path);
  if (img.size() < 16) throw InputError(img_path + ": truncated: " + std::to_string(img.size()) + "-byte file, no IDX header");
  if (be32(&img[0]) != 0x00000803)
    throw InputError(img_path + ": bad magic " + hex(be32(&img[0])) + " (want 0x00000803, IDX unsigned bytes, 3 dimensions)");
  const uint32_t n = be32(&img[4]), rows = be32(&img[8]), cols = be32(&img[12]);
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
    throw InputError(img_path + ": implausible image size " + std::to_string(rows) + "x" + std::to_string(cols));
  if (n == 0) throw InputError(img_path + ": no images");
  check_size(img_path, img.size(), 16 + (uint64_t)n * rows * cols,
             "a header for " + std::to_string(n) + " images of " + std::to_string(rows) + "x" + std::to_string(cols));

  std::vector<uint8_t> lbl = read_maybe_gz(lbl_path);
  if (lbl.size() < 8) throw InputError(lbl_path + ": truncated: " + std::to_string(lbl.size()) + "-byte file, no IDX header");
  if (be32(&lbl[0]) != 0x00000801)
    throw InputError(lbl_path + ": bad magic " + hex(be32(&lbl[0])) + " (want 0x00000801, IDX unsigned bytes, 1 dimension)");
  const uint32_t nl = be32(&lbl[4]);
  if (nl != n)
    throw InputError(lbl_path + ": " + std::to_string(nl) + " labels, but " + img_path + " has " + std::to_string(n) + " images");
  check_size(lbl_path, lbl.size(), 8 + (uint64_t)n, "a header for " + std::to_string(n) + " labels");

  std::vector<int32_t> labels(n);
  for (uint32_t i = 0; i < n; ++i) {
    labels[i] = lbl[8 + i];
    if (labels[i] >= kClasses)
      throw InputError(lbl_path + ": label " + std::to_string(labels[i]) + " of image " + std::to_string(i) + " is outside 0.." +
                       std::to_string(kClasses - 1));
  }
  img.erase(img.begin(), img.begin() + 16);
  img.shrink_to_fit();
  return std::make_unique<ByteImages>(name, ImageShape{1, (int)rows, (int)cols}, kClasses, norm, std::move(img),
                                      std::move(labels));
}

}  // namespace cvg::data
