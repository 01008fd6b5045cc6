#include "base/io.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cvg {

void require_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) throw InputError(path + ": is a folder, expected a file");
  if (!S_ISREG(st.st_mode)) throw InputError(path + ": not a regular file (a pipe or device would block or never end)");
}

namespace {
std::string parent_folder(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}
}  // namespace

void require_writable_file(const std::string& path) {
  if (path.empty()) throw InputError("the output file name is empty");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw InputError(path + ": is a folder, expected a file");
  const std::string dir = parent_folder(path);
  if (::stat(dir.c_str(), &st) != 0) throw InputError(path + ": folder " + dir + " does not exist");
  if (!S_ISDIR(st.st_mode)) throw InputError(path + ": " + dir + " is not a folder");
  if (::access(dir.c_str(), W_OK) != 0) throw InputError(path + ": folder " + dir + " is not writable (" + std::strerror(errno) + ")");
}

void require_output_folder(const std::string& dir) {
  if (dir.empty()) throw InputError("the output folder name is empty");
  const std::string d = strip_slashes(dir);
  struct stat st;
  if (::stat(d.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) throw InputError(dir + ": exists and is not a folder");
  // Its parent too: the tools write a partial folder beside it, then rename it into place.
  for (std::string up = parent_folder(d);; up = parent_folder(up)) {
    if (::stat(up.c_str(), &st) != 0) {
      if (up == "/" || up == ".") throw InputError(dir + ": no folder above it exists");
      continue;
    }
    if (!S_ISDIR(st.st_mode)) throw InputError(dir + ": " + up + " is not a folder");
    if (::access(up.c_str(), W_OK) != 0) throw InputError(dir + ": folder " + up + " is not writable (" + std::strerror(errno) + ")");
    return;
  }
}

void require_new_folder(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return;
  bool empty = S_ISDIR(st.st_mode);
  if (DIR* d = empty ? opendir(dir.c_str()) : nullptr) {
    while (dirent* e = readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) empty = false;
    closedir(d);
  } else {
    empty = false;
  }
  if (!empty) throw InputError(dir + ": exists and is not empty (remove it or choose another --out)");
}

std::vector<char> read_file(const std::string& path) {
  require_file(path);
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw InputError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::streamsize n = f.tellg();
  if (n < 0) throw InputError(path + ": cannot read");
  std::vector<char> buf((size_t)n);
  f.seekg(0);
  if (n && !f.read(buf.data(), n)) throw InputError(path + ": read failed");
  return buf;
}

void write_file_atomic(const std::string& path, const void* data, size_t bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError(path + ": cannot create (" + std::strerror(errno) + ")");
  const char* p = static_cast<const char*>(data);
  size_t left = bytes;
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw InputError(path + ": write failed (" + why + ")");
    }
    p += w, left -= (size_t)w;
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw InputError(path + ": fsync/close failed (" + std::strerror(errno) + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw InputError(path + ": rename failed (" + why + ")");
  }
  const std::string dir = parent_folder(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd < 0 || ::fsync(dfd) != 0) {
    std::string why = std::strerror(errno);
    if (dfd >= 0) ::close(dfd);
    throw InputError(dir + ": fsync of the folder failed (" + why + ")");
  }
  ::close(dfd);
}

void append_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) throw InputError(path + ": cannot open for appending (" + std::strerror(errno) + ")");
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::string why = w < 0 ? std::strerror(errno) : "nothing written";
      ::close(fd);
      throw InputError(path + ": write failed (" + why + ")");
    }
    p += w, left -= (size_t)w;
  }
  if (::close(fd) != 0) throw InputError(path + ": close failed (" + std::strerror(errno) + ")");
}

void check_path_component(const std::string& name, const std::string& what, const std::string& origin) {
  auto bad = [&](const std::string& why) {
    std::string shown = name.size() > 64 ? name.substr(0, 64) + "..." : name;
    return InputError(origin + ": " + what + " '" + shown + "' " + why);
  };
  if (name.empty() || name.size() > 128) throw bad("must have 1 to 128 characters");
  if (name[0] == '.') throw bad("must not start with '.'");
  for (char ch : name)
    if (!(std::isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '-' || ch == '+'))
      throw bad("may hold only letters, digits and . _ - + (it becomes part of a file name)");
}

size_t physical_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)1 << 32;
}

FolderLock::FolderLock(const std::string& dir) {
  const std::string path = dir + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(path + ": cannot create the lock file (" + std::strerror(errno) + ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, (size_t)n) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw InputError(dir + ": in use by another process (pid " + holder + " holds " + path + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != (ssize_t)pid.size()) {
    std::string why = std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    throw InputError(path + ": cannot write the lock file (" + why + ")");
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

void make_dirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
        throw InputError(cur + ": cannot create folder (" + std::strerror(errno) + ")");
    }
    if (i < path.size()) cur += path[i];
  }
}

std::string strip_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

namespace fs = std::filesystem;

void check_replaceable_output(const std::string& out, const OutputOwner& owner) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) throw InputError(out + ": exists and is not a folder; choose another --out");
  if (fs::is_empty(out, ec) || owner.owns(out)) return;
  throw InputError(out + ": exists and is not a " + owner.tool + " output folder; " + owner.tool +
                   " replaces it as a whole, so choose a new or empty folder");
}

std::string partial_output_dir(const std::string& out) {
  const std::string o = strip_slashes(out);
  const fs::path parent = fs::path(o).parent_path().empty() ? fs::path(".") : fs::path(o).parent_path();
  make_dirs(parent.string());
  const std::string stem = fs::path(o).filename().string() + ".partial-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(stem, 0) != 0) continue;
    const long pid = std::strtol(n.c_str() + stem.size(), nullptr, 10);
    if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH) remove_tree(e.path().string());  // its writer is gone
  }
  const std::string p = o + ".partial-" + std::to_string(getpid());
  remove_tree(p);
  make_dirs(p);
  return p;
}

void publish_output(const std::string& partial, const std::string& out, const OutputOwner& owner) {
  const std::string o = strip_slashes(out);
  std::error_code ec;
  if (fs::exists(o, ec)) {
    check_replaceable_output(o, owner);  // again: it may have changed while we computed
    if (renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, o.c_str(), RENAME_EXCHANGE) == 0) {
      remove_tree(partial);  // now the old output
      return;
    }
    if (errno != EINVAL && errno != ENOSYS)
      throw std::runtime_error(o + ": cannot replace it with the new output: " + std::strerror(errno));
    // A filesystem without the atomic exchange: move the old output aside first (OUT is briefly absent).
    const std::string old = o + ".old-" + std::to_string(getpid());
    if (std::rename(o.c_str(), old.c_str()) != 0)
      throw std::runtime_error(o + ": cannot move the old output aside: " + std::strerror(errno));
    if (std::rename(partial.c_str(), o.c_str()) != 0) {
      const int e = errno;
      std::rename(old.c_str(), o.c_str());
      throw std::runtime_error(o + ": cannot move the new output into place: " + std::strerror(e));
    }
    remove_tree(old);
    return;
  }
  if (std::rename(partial.c_str(), o.c_str()) != 0)
    throw std::runtime_error(o + ": cannot move the new output into place: " + std::strerror(errno));
}

void remove_tree(const std::string& dir) noexcept {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace cvg
