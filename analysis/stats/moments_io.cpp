#include "analysis/stats/moments_io.h"

#include "base/npy.h"
#include "base/io.h"

namespace cvg {

static std::string name(const std::string& dir, const std::string& what, int k, int q = -1) {
  return dir + "/" + what + "_" + std::to_string(k) + (q >= 0 ? "_" + std::to_string(q) : "") + ".npy";
}

void save_moments(const std::string& dir, const Moments& m) {
  make_dirs(dir);
  write_npy(dir + "/count.npy", &m.count, {1});
  for (int k = 0; k < m.nets(); ++k) {
    size_t c = m.units[k];
    write_npy(name(dir, "shift", k), m.shift[k].data(), {c});
    write_npy(name(dir, "sum", k), m.sum[k].data(), {c});
    write_npy(name(dir, "gram", k), m.gram[k].data(), {c, c});
  }
  for (int p = 0; p < m.nets(); ++p)
    for (int q = p + 1; q < m.nets(); ++q)
      write_npy(name(dir, "cross", p, q), m.cross[m.pair_index(p, q)].data(), {(size_t)m.units[p], (size_t)m.units[q]});
}

Moments load_moments(const std::string& dir) {
  auto load = [](const std::string& path, const std::vector<size_t>& shape) {
    NpyArray a = read_npy(path);
    if (a.shape != shape) throw InputError(path + ": unexpected shape");
    return a.to_double();
  };
  std::vector<int> units;
  for (int k = 0; file_exists(name(dir, "sum", k)); ++k) units.push_back((int)read_npy(name(dir, "sum", k)).numel());
  if (units.empty()) throw InputError(dir + ": no moments here (expected sum_0.npy, gram_0.npy, ...)");
  Moments m(units);
  m.count = load(dir + "/count.npy", {1})[0];
  for (int k = 0; k < m.nets(); ++k) {
    size_t c = units[k];
    m.shift[k] = load(name(dir, "shift", k), {c});
    m.sum[k] = load(name(dir, "sum", k), {c});
    m.gram[k] = load(name(dir, "gram", k), {c, c});
  }
  for (int p = 0; p < m.nets(); ++p)
    for (int q = p + 1; q < m.nets(); ++q)
      m.cross[m.pair_index(p, q)] = load(name(dir, "cross", p, q), {(size_t)units[p], (size_t)units[q]});
  return m;
}

}  // namespace cvg
