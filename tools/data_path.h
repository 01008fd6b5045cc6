// The project's own data (net configs in data/nets/) found relative to the installation, not the
// working folder: bin/train run from anywhere finds data/nets/alexnet-mini.json. An installed tree
// (make install PREFIX=P) keeps it in P/share/convergent/; a build tree in <repo>/data/.
#pragma once
#include <unistd.h>

#include <string>

#include "base/io.h"

namespace cvg {

// The folder of the running binary ("" when unknown).
inline std::string executable_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, (size_t)n);
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

// `path` as given when it exists (or is absolute); else, for a path under data/ (e.g.
// data/nets/alexnet-mini.json), the same file beside the installation. Unchanged when neither
// exists, so the caller's error names what the user typed.
inline std::string project_data_path(const std::string& path) {
  if (path.empty() || path[0] == '/' || file_exists(path)) return path;
  const std::string rel = path.rfind("data/", 0) == 0 ? path.substr(5) : path;
  const std::string exe = executable_dir();
  if (exe.empty()) return path;
  for (const std::string& root : {exe + "/../data/", exe + "/../share/convergent/"})
    if (file_exists(root + rel)) return root + rel;
  return path;
}

}  // namespace cvg
