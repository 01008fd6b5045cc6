// NumPy .npy files: the project's format for matrices and vectors (numpy.load reads them directly).
// Reads versions 1.0 and 2.0, C order, little-endian float32/float64/int32/int64 and uint8; anything
// else (Fortran order, big-endian, other dtypes, truncated or corrupt files) throws InputError
// "<file>: <what is wrong>". Writes version 1.0 (2.0 for huge headers), header padded to 64 bytes,
// atomically (temporary file + rename).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cvg {

struct NpyArray {
  std::vector<size_t> shape;  // () for a scalar
  std::string dtype;          // "<f4", "<f8", "<i4", "<i8" or "|u1"
  std::vector<char> bytes;    // the elements, C order, little-endian

  size_t numel() const;
  size_t itemsize() const;
  // The elements converted to float / double whatever the stored dtype.
  std::vector<float> to_float() const;
  std::vector<double> to_double() const;
};

NpyArray read_npy(const std::string& path);
// Parses a whole .npy file held in memory; `name` is used in error messages.
NpyArray parse_npy(const std::vector<char>& file, const std::string& name);

// Serialises / writes an array of the given shape (numel = product of shape; () is a scalar).
std::vector<char> npy_bytes(const NpyArray& a);
void write_npy(const std::string& path, const float* data, const std::vector<size_t>& shape);
void write_npy(const std::string& path, const double* data, const std::vector<size_t>& shape);
void write_npy(const std::string& path, const int32_t* data, const std::vector<size_t>& shape);
void write_npy(const std::string& path, const int64_t* data, const std::vector<size_t>& shape);

}  // namespace cvg
