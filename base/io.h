// File helpers with the project's error conventions: every failure throws InputError naming the
// file and what is wrong (tools print it as "error: ..." and exit 2); writes are atomic
// (temporary file in the same folder, fsync, rename), so a crash never leaves a half-written file.
#pragma once
#include "base/errors.h"
#include <string>
#include <vector>

namespace cvg {

// Throws InputError when `path` is missing, a folder ("<path>: is a folder, expected a file") or not a
// regular file (a FIFO would block the reader).
void require_file(const std::string& path);
std::vector<char> read_file(const std::string& path);
// Throws InputError unless `path` can be written: a non-empty name, not a folder, in an existing,
// writable folder. Checked before long work, so that it is not lost to a typo in the output path.
void require_writable_file(const std::string& path);
// Throws InputError unless a tool can make or fill its output folder `dir`: an existing folder, or a new
// one under a writable folder (the nearest that exists). Checked before long work, like the above.
void require_output_folder(const std::string& dir);
// Throws InputError when the folder `dir` exists and is not empty (a new run folder goes there).
void require_new_folder(const std::string& dir);
// `path` without trailing slashes ("runs/x/" -> "runs/x"; "/" stays).
std::string strip_slashes(std::string path);
// A tool that replaces its --out as a whole: its name for messages, and whether a folder is its output.
struct OutputOwner {
  const char* tool;
  bool (*owns)(const std::string& dir);
};
// Throws InputError when OUT exists and is neither empty nor the owner's output: the tool
// replaces OUT as a whole, so it must not be a folder holding anything else.
void check_replaceable_output(const std::string& out, const OutputOwner& owner);
// A fresh temporary folder beside OUT (stale ones of dead processes are removed).
std::string partial_output_dir(const std::string& out);
// Puts the finished `partial` folder in place of OUT (atomic exchange when OUT exists, then the old
// one is removed).
void publish_output(const std::string& partial, const std::string& out, const OutputOwner& owner);
// Removes a folder tree (the partial output after a failure); errors are ignored.
void remove_tree(const std::string& dir) noexcept;

// Temporary file path.tmp.<pid>, fsync, rename, then fsync of the folder so the rename itself survives a crash.
void write_file_atomic(const std::string& path, const void* data, size_t bytes);
inline void write_file_atomic(const std::string& path, const std::string& s) { write_file_atomic(path, s.data(), s.size()); }
// mkdir -p
void make_dirs(const std::string& path);
bool file_exists(const std::string& path);
// Appends to a file (created when missing), checking every write and the close: a full disk throws.
void append_file(const std::string& path, const std::string& text);

// A name read from a file (net, layer or parameter name) that will become part of a path: one path
// component of [A-Za-z0-9._+-], 1..128 characters, not starting with '.'. Throws InputError
// "<origin>: <what> '<name>' ..." otherwise, so no file can make us write outside our folder.
void check_path_component(const std::string& name, const std::string& what, const std::string& origin);

// Physical memory of this machine in bytes: the bound for any count a user gives.
size_t physical_memory_bytes();

// An exclusive lock (flock) on a folder, held for the object's life: DIR/.lock holds the holder's pid.
// A second holder, in this process or another, gets InputError naming the folder and the holder's pid.
class FolderLock {
 public:
  explicit FolderLock(const std::string& dir);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace cvg
