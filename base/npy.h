// NumPy .npy files: the project's format for matrices and vectors (numpy.load reads them directly).
// Reads versions 1.0 and 2.0 of float32/float64, signed and unsigned integers of 1, 2, 4 and 8 bytes,
// and bool, in C or Fortran order, little- or big-endian (both converted to C order, little-endian:
// numpy.save of a transposed matrix writes Fortran order); anything else (other dtypes, truncated or
// corrupt files) throws InputError "<file>: <what is wrong>". Writes version 1.0 (2.0 for huge
// headers), C order, little-endian, header padded to 64 bytes, atomically (temporary file + rename).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cvg {

struct NpyArray {
  std::vector<size_t> shape;  // () for a scalar
  std::string dtype;          // "<f4", "<f8", "<i2/4/8", "<u2/4/8", "|i1", "|u1" or "|b1" (bool)
  std::vector<char> bytes;    // the elements, C order, little-endian

  size_t numel() const;
  size_t itemsize() const;
  // The elements converted to float / double whatever the stored dtype.
  std::vector<float> to_float() const;
  std::vector<double> to_double() const;
  // to_double(), every value finite: InputError naming `path` and the first that is not.
  std::vector<double> to_finite_double(const std::string& path) const;
};

// Reads the header, then the data with one read straight into its buffer.
NpyArray read_npy(const std::string& path);
// Parses a whole .npy file held in memory; `name` is used in error messages.
NpyArray parse_npy(const std::vector<char>& file, const std::string& name);

// A .npy file mapped read-only from the page cache: the header is parsed and checked as read_npy
// does, and data() points at the elements in place (no copy, no conversion), stored as NpyArray
// holds them only when native(); copy() gives them converted. Numpy aligns the data to 64 bytes;
// a file with a misaligned data offset is still mapped (data() is then unaligned). The file must
// not be truncated while mapped.
class NpyMapped {
 public:
  explicit NpyMapped(const std::string& path);
  ~NpyMapped();
  NpyMapped(const NpyMapped&) = delete;
  NpyMapped& operator=(const NpyMapped&) = delete;
  const NpyArray& meta() const { return meta_; }  // shape and dtype; bytes empty
  const void* data() const { return static_cast<const char*>(map_) + offset_; }
  bool native() const { return native_; }  // C order, little-endian
  NpyArray copy() const;                   // meta() with the elements, in C order, little-endian

 private:
  NpyArray meta_;
  bool native_ = true, fortran_ = false, big_endian_ = false;
  void* map_ = nullptr;
  size_t size_ = 0, offset_ = 0;
};

// Serialises / writes an array of the given shape (numel = product of shape; () is a scalar).
std::vector<char> npy_bytes(const NpyArray& a);
void write_npy(const std::string& path, const float* data, const std::vector<size_t>& shape);
void write_npy(const std::string& path, const double* data, const std::vector<size_t>& shape);
void write_npy(const std::string& path, const int32_t* data, const std::vector<size_t>& shape);
void write_npy(const std::string& path, const int64_t* data, const std::vector<size_t>& shape);

}  // namespace cvg
