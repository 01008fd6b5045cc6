// File helpers with the project's error conventions: every failure throws InputError naming the
// file and what is wrong (tools print it as "error: ..." and exit 2); writes are atomic
// (temporary file in the same folder, fsync, rename), so a crash never leaves a half-written file.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace cvg {

// Bad input from the user or from disk: tools exit with code 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<char> read_file(const std::string& path);
void write_file_atomic(const std::string& path, const void* data, size_t bytes);
inline void write_file_atomic(const std::string& path, const std::string& s) { write_file_atomic(path, s.data(), s.size()); }
// mkdir -p
void make_dirs(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace cvg
