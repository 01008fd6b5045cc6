#include "analysis/stats/moments_io.h"

#include "base/npy.h"
#include "base/io.h"

namespace cvg {

static std::string name(const std::string& dir, const std::string& what, int k, int q = -1) {
  return dir + "/" + what + "_" + std::to_string(k) + (q >= 0 ? "_" + std::to_string(q) : "") + ".npy";
}

// A moments file's values: the shape expected, every value finite (a NaN would pass into every
// correlation of the unit, and the tools would report them as correlations of 0).
static std::vector<double> load(const std::string& path, const std::vector<size_t>& shape) {
  NpyArray a = read_npy(path);
  if (a.shape != shape) throw InputError(path + ": unexpected shape");
  return a.to_finite_double(path);
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

void save_block_moments(const std::string& dir, const std::vector<Moments>& blocks) {
  if (blocks.empty()) return;
  make_dirs(dir);
  const size_t B = blocks.size();
  const Moments& m0 = blocks[0];
  // One stacked array per quantity: block b's values at [b, ...].
  auto save = [&](const std::string& path, auto member, size_t each, std::vector<size_t> shape) {
    std::vector<double> all;
    all.reserve(B * each);
    for (const Moments& b : blocks) {
      const std::vector<double>& v = member(b);
      all.insert(all.end(), v.begin(), v.end());
    }
    shape.insert(shape.begin(), B);
    write_npy(path, all.data(), shape);
  };
  std::vector<double> counts;
  for (const Moments& b : blocks) counts.push_back(b.count);
  write_npy(dir + "/count.npy", counts.data(), {B});
  for (int k = 0; k < m0.nets(); ++k) {
    const size_t c = m0.units[k];
    save(name(dir, "sum", k), [k](const Moments& b) -> const std::vector<double>& { return b.sum[k]; }, c, {c});
    save(name(dir, "gram", k), [k](const Moments& b) -> const std::vector<double>& { return b.gram[k]; }, c* c, {c, c});
  }
  for (int p = 0; p < m0.nets(); ++p)
    for (int q = p + 1; q < m0.nets(); ++q) {
      const int e = m0.pair_index(p, q);
      const size_t cp = m0.units[p], cq = m0.units[q];
      save(name(dir, "cross", p, q), [e](const Moments& b) -> const std::vector<double>& { return b.cross[e]; }, cp* cq,
           {cp, cq});
    }
}

std::vector<Moments> load_block_moments(const std::string& dir, const Moments& total) {
  if (!file_exists(dir + "/count.npy")) return {};
  const NpyArray c = read_npy(dir + "/count.npy");
  if (c.shape.size() != 1 || c.numel() < 1) throw InputError(dir + "/count.npy: expected one count per block");
  const size_t B = c.numel();
  const std::vector<double> counts = c.to_double();
  std::vector<Moments> blocks(B, Moments(total.units));
  double sum = 0;
  for (size_t b = 0; b < B; ++b) blocks[b].count = counts[b], blocks[b].shift = total.shift, sum += counts[b];
  if (sum != total.count) throw InputError(dir + ": the blocks' sample counts do not add up to the layer's");
  auto spread = [&](const std::vector<double>& all, auto member) {  // [B, ...] -> each block
    const size_t each = all.size() / B;
    for (size_t b = 0; b < B; ++b) member(blocks[b]).assign(all.begin() + b * each, all.begin() + (b + 1) * each);
  };
  for (int k = 0; k < total.nets(); ++k) {
    const size_t u = total.units[k];
    spread(load(name(dir, "sum", k), {B, u}), [k](Moments& m) -> std::vector<double>& { return m.sum[k]; });
    spread(load(name(dir, "gram", k), {B, u, u}), [k](Moments& m) -> std::vector<double>& { return m.gram[k]; });
  }
  for (int p = 0; p < total.nets(); ++p)
    for (int q = p + 1; q < total.nets(); ++q) {
      const int e = total.pair_index(p, q);
      spread(load(name(dir, "cross", p, q), {B, (size_t)total.units[p], (size_t)total.units[q]}),
             [e](Moments& m) -> std::vector<double>& { return m.cross[e]; });
    }
  return blocks;
}

}  // namespace cvg
