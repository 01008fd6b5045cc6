#include "analysis/stats/correlate_io.h"

#include <zlib.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "analysis/stats/moments_io.h"
#include "base/npy.h"
#include "base/io.h"

namespace cvg {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string base_name(const std::string& p) {
  const std::string s = strip_slashes(p);
  const size_t slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

std::string crc_hex(const Checkpoint& ck) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const Checkpoint::View& v : ck.params()) {
    size_t n = 1;
    for (int d : v.shape) n *= (size_t)d;
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(v.values), n * sizeof(float));
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", (unsigned long)crc);
  return buf;
}

// Is `dir` something publish_output may replace: a bin/correlate output (any version), or one of
// our own partial folders?
bool looks_like_correlate_output(const std::string& dir) {
  const std::string s = dir + "/summary.json";
  if (!file_exists(s)) return false;
  const std::vector<char> b = read_file(s);
  const json j = json::parse(b.begin(), b.end(), nullptr, false);
  if (!j.is_object()) return false;
  if (j.value("format", "") == kCorrelateFormat) return true;
  // Version 1 (before the format key): "nets" and "layers" with their moments.
  return j.contains("nets") && j.contains("layers") && j.contains("checkpoints");
}

}  // namespace

NetRecord net_record(const Checkpoint& ck, const std::string& run, int index) {
  NetRecord r;
  r.index = index;
  r.run = run;
  r.checkpoint = ck.path;
  r.seed = ck.info.seed;
  r.iteration = ck.info.iteration;
  r.weights_crc32 = crc_hex(ck);
  r.config = ck.config.name;
  const std::string b = base_name(run);
  if (b.size() > 4 && b.substr(b.size() - 4) == ".bin") {
    const std::string parent = base_name(fs::path(strip_slashes(run)).parent_path().string());
    r.name = (parent.empty() || parent == "." ? "" : parent + "/") + b.substr(0, b.size() - 4);
  } else {
    r.name = b.empty() || b == "." ? fs::current_path().filename().string() : b;
  }
  return r;
}

void make_names_unique(std::vector<NetRecord>& nets) {
  for (size_t i = 0; i < nets.size(); ++i)
    for (size_t j = 0; j < nets.size(); ++j)
      if (i != j && nets[i].name == nets[j].name) {
        const std::string n = nets[i].name;
        for (NetRecord& r : nets)
          if (r.name == n) r.name = n + "#" + std::to_string(r.index);
      }
}

json to_json(const NetRecord& r) {
  return {{"index", r.index},
          {"name", r.name},
          {"run", r.run},
          {"checkpoint", r.checkpoint},
          {"seed", r.seed},
          {"iteration", r.iteration},
          {"weights_crc32", r.weights_crc32},
          {"config", r.config}};
}

std::string describe(const NetRecord& r) {
  return std::to_string(r.index) + " = " + r.name + " (" + r.checkpoint + ", seed " + std::to_string(r.seed) + ", iteration " +
         std::to_string(r.iteration) + ")";
}

const OutputOwner kCorrelateOwner{"bin/correlate", looks_like_correlate_output};

namespace {
bool plain_name(const std::string& n) {
  if (n.empty() || n == "." || n == ".." || n.size() > 128) return false;
  for (char c : n)
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}
void write_vec(const std::string& path, const std::vector<double>& v, std::vector<size_t> shape) {
  write_npy(path, v.data(), shape);
}
}  // namespace

void write_correlate_output(const std::string& out, const std::vector<NetRecord>& nets, const std::vector<LayerResult>& results,
                            const json& meta) {
  check_replaceable_output(out, kCorrelateOwner);
  const std::string partial = partial_output_dir(out);
  try {
    json summary = {{"format", kCorrelateFormat}, {"version", kCorrelateVersion}, {"nets", json::array()}};
    summary.update(meta);
    summary["layers"] = json::array();
    for (const NetRecord& r : nets) summary["nets"].push_back(to_json(r));
    for (const LayerResult& r : results) {
      if (!plain_name(r.name))
        throw InputError("layer name '" + r.name + "' cannot be a folder name (letters, digits, _ - . only)");
      const std::string dir = partial + "/" + r.name;
      make_dirs(dir);
      const std::vector<int>& U = r.moments.units;
      for (int k = 0; k < (int)U.size(); ++k) {
        const size_t c = U[k];
        write_vec(dir + "/mean_" + std::to_string(k) + ".npy", r.stats.mean[k], {c});
        write_vec(dir + "/std_" + std::to_string(k) + ".npy", r.stats.std[k], {c});
        write_vec(dir + "/within_" + std::to_string(k) + ".npy", r.stats.within[k], {c, c});
      }
      save_moments(dir + "/moments", r.moments);
      save_block_moments(dir + "/moments/blocks", r.blocks);
      json lj = {
          {"layer", r.name}, {"units", U}, {"samples_per_unit", r.moments.count}, {"positions", r.hw}, {"pairs", json::array()}};
      json zero = json::array(), dead = json::array();
      for (const auto& z : r.stats.zero_variance) zero.push_back(z), dead.push_back(z.size());
      lj["zero_variance_units"] = zero;
      lj["dead_units"] = dead;
      if (!r.bootstrap.is_null()) lj["bootstrap"] = r.bootstrap;
      if (!r.multiway.is_null()) lj["multiway"] = r.multiway;
      for (const PairResult& p : r.pairs) {
        const std::string tag = std::to_string(p.a) + "_" + std::to_string(p.b);
        const size_t ca = U[p.a], cb = U[p.b];
        write_vec(dir + "/between_" + tag + ".npy", p.between, {ca, cb});
        write_npy(dir + "/bipartite_" + tag + ".npy", p.bipartite.row_to_col.data(), {ca});
        write_npy(dir + "/semi_" + tag + ".npy", p.semi_ab.data(), {ca});
        write_npy(dir + "/semi_" + std::to_string(p.b) + "_" + std::to_string(p.a) + ".npy", p.semi_ba.data(), {cb});
        if (!p.mi.empty()) {
          write_vec(dir + "/mi_" + tag + ".npy", p.mi, {ca, cb});
          write_npy(dir + "/mi_bipartite_" + tag + ".npy", p.mi_bipartite.row_to_col.data(), {ca});
        }
        json pj = p.summary;
        if (p.a < (int)nets.size() && p.b < (int)nets.size()) pj["net_a"] = nets[p.a].name, pj["net_b"] = nets[p.b].name;
        lj["pairs"].push_back(pj);
      }
      summary["layers"].push_back(lj);
    }
    write_file_atomic(partial + "/summary.json", summary.dump(1) + "\n");  // last: the folder is complete
    publish_output(partial, out, kCorrelateOwner);
  } catch (...) {
    remove_tree(partial);
    throw;
  }
}

const json& CorrelateOutput::layer(const std::string& name) const {
  for (const json& l : summary["layers"])
    if (l["layer"] == name) return l;
  std::string list;
  for (const std::string& l : layers) list += (list.empty() ? "" : ", ") + l;
  throw InputError(dir + ": no layer '" + name + "' in this bin/correlate output (its layers: " + list + ")");
}

std::string CorrelateOutput::nets_list() const {
  std::string s;
  for (const NetRecord& r : nets) s += (s.empty() ? "" : "; ") + describe(r);
  return s;
}

int CorrelateOutput::find_net(const Checkpoint& ck, const std::string& run) const {
  const std::string crc = crc_hex(ck);
  for (const NetRecord& r : nets)
    if (r.weights_crc32 == crc && r.seed == ck.info.seed && r.iteration == ck.info.iteration) return r.index;
  // Same run folder, other weights: the run went on training after bin/correlate read it.
  std::error_code ec;
  for (const NetRecord& r : nets)
    if (fs::equivalent(strip_slashes(r.run), strip_slashes(run), ec))
      throw InputError(run + ": its checkpoint " + ck.path + " (iteration " + std::to_string(ck.info.iteration) +
                       ") is not the one correlated in " + dir + " (" + describe(r) + "); run bin/correlate again");
  throw InputError(run + " (" + ck.path + ") is not among the nets correlated in " + dir + " (" + nets_list() +
                   "); run bin/correlate on it or point --correlate-dir at its output");
}

CorrelateOutput read_correlate_summary(const std::string& dir) {
  CorrelateOutput o;
  o.dir = strip_slashes(dir);
  std::error_code ec;
  if (!fs::is_directory(o.dir, ec)) throw InputError(o.dir + ": no such folder (expected bin/correlate's --out)");
  const std::string sp = o.dir + "/summary.json";
  if (!file_exists(sp))
    throw InputError(o.dir + ": no summary.json: not a complete bin/correlate output (an interrupted run, or the wrong folder)");
  const std::vector<char> bytes = read_file(sp);
  o.summary = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (!o.summary.is_object()) throw InputError(sp + ": not valid JSON");
  if (o.summary.value("format", "") != kCorrelateFormat)
    throw InputError(sp + ": written by an older bin/correlate that did not record which nets it holds; run bin/correlate again");
  if (o.summary.value("version", 0) > kCorrelateVersion)
    throw InputError(sp + ": written by a newer convergent (version " + std::to_string(o.summary.value("version", 0)) + ")");
  try {
    for (const json& n : o.summary.at("nets")) {
      NetRecord r;
      r.index = n.at("index"), r.name = n.at("name"), r.run = n.at("run"), r.checkpoint = n.at("checkpoint");
      r.seed = n.at("seed"), r.iteration = n.at("iteration"), r.weights_crc32 = n.at("weights_crc32");
      r.config = n.value("config", "");
      if (r.index != (int)o.nets.size()) throw InputError(sp + ": nets are not listed in index order");
      o.nets.push_back(r);
    }
    if (o.nets.size() < 2) throw InputError(sp + ": fewer than two nets");
    for (const json& l : o.summary.at("layers")) {
      const std::string name = l.at("layer");
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        throw InputError(sp + ": bad layer name '" + name + "'");
      l.at("samples_per_unit").get<double>();
      // What the tools read of a layer later (its units per net, each net's dead units): checked here once.
      const json& units = l.at("units");
      bool ok = units.is_array() && units.size() == o.nets.size();
      for (size_t k = 0; ok && k < units.size(); ++k) ok = units[k].is_number_integer() && units[k].get<long long>() >= 1;
      if (l.contains("zero_variance_units")) {
        const json& z = l.at("zero_variance_units");
        ok = ok && z.is_array() && z.size() == o.nets.size();
        for (size_t k = 0; ok && k < z.size(); ++k)
          for (const json& v : z[k]) ok = ok && v.is_number_integer() && v.get<long long>() >= 0 && v < units[k];
      }
      if (!ok) throw InputError(sp + ": layer " + name + ": 'units' or 'zero_variance_units' is not one entry per net");
      o.layers.push_back(name);
    }
  } catch (const json::exception& e) {
    throw InputError(sp + ": unexpected content (" + e.what() + ")");
  }
  return o;
}

void check_correlate_layer(const CorrelateOutput& o, const std::string& name) {
  const int K = (int)o.nets.size();
  const std::string ld = o.dir + "/" + name;
  std::vector<std::string> need = {"moments/count.npy"};
  for (int k = 0; k < K; ++k)
    for (const char* f : {"mean", "std", "within"}) need.push_back(std::string(f) + "_" + std::to_string(k) + ".npy");
  for (int p = 0; p < K; ++p)
    for (int q = p + 1; q < K; ++q)
      for (const char* f : {"between", "bipartite", "semi"})
        need.push_back(std::string(f) + "_" + std::to_string(p) + "_" + std::to_string(q) + ".npy");
  for (const std::string& f : need)
    if (!file_exists(ld + "/" + f))
      throw InputError(ld + "/" + f + ": missing, though summary.json lists layer " + name +
                       ": an incomplete or mixed bin/correlate output; run bin/correlate again");
  const NpyArray count = read_npy(ld + "/moments/count.npy");
  const double want = o.layer(name).at("samples_per_unit").get<double>();
  if (count.numel() != 1 || count.to_double()[0] != want)
    throw InputError(ld + "/moments/count.npy: its sample count differs from summary.json's (" + std::to_string((long long)want) +
                     "): files of different bin/correlate runs are mixed here; run bin/correlate again");
}

CorrelateOutput open_correlate_output(const std::string& dir) {
  CorrelateOutput o = read_correlate_summary(dir);
  for (const std::string& name : o.layers) check_correlate_layer(o, name);
  return o;
}

namespace {
std::string pair_file(const CorrelateOutput& o, const std::string& layer, const std::string& stem, int p, int q) {
  o.layer(layer);  // names the layers when this one is not there
  const int K = (int)o.nets.size();
  if (p == q || p < 0 || q < 0 || p >= K || q >= K)
    throw InputError("pair (" + std::to_string(p) + ", " + std::to_string(q) + ") is not a pair of nets of " + o.dir);
  return o.dir + "/" + layer + "/" + stem + "_" + std::to_string(std::min(p, q)) + "_" + std::to_string(std::max(p, q)) + ".npy";
}
std::string shape_str(const std::vector<size_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}
}  // namespace

std::vector<double> read_pair_matrix(const CorrelateOutput& o, const std::string& layer, PairMatrix which, int p, int q, int rows,
                                     int cols) {
  const std::string path = pair_file(o, layer, which == PairMatrix::Between ? "between" : "mi", p, q);
  const NpyArray a = read_npy(path);
  const bool flip = p > q;
  const std::vector<size_t> want =
      flip ? std::vector<size_t>{(size_t)cols, (size_t)rows} : std::vector<size_t>{(size_t)rows, (size_t)cols};
  if (a.dtype != "<f8" && a.dtype != "<f4") throw InputError(path + ": dtype " + a.dtype + ", expected float64");
  if (a.shape != want)
    throw InputError(path + ": shape " + shape_str(a.shape) + ", but the nets' layer has " + std::to_string(flip ? cols : rows) +
                     " and " + std::to_string(flip ? rows : cols) + " units: expected " + shape_str(want));
  // bin/correlate writes finite values only (a constant unit's correlations are 0).
  std::vector<double> v = a.to_finite_double(path);
  if (!flip) return v;
  std::vector<double> t(v.size());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) t[(size_t)i * cols + j] = v[(size_t)j * rows + i];
  return t;
}

std::vector<int64_t> read_pair_assignment(const CorrelateOutput& o, const std::string& layer, int p, int q, int rows, int cols,
                                          PairAssignment which) {
  const std::string path = pair_file(o, layer, which == PairAssignment::Bipartite ? "bipartite" : "mi_bipartite", p, q);
  const NpyArray a = read_npy(path);
  const bool flip = p > q;
  const int n = flip ? cols : rows, m = flip ? rows : cols;
  if (a.dtype != "<i8" && a.dtype != "<i4") throw InputError(path + ": dtype " + a.dtype + ", expected int64");
  if (a.shape != std::vector<size_t>{(size_t)n})
    throw InputError(path + ": shape " + shape_str(a.shape) + ", expected [" + std::to_string(n) + "]");
  const std::vector<double> v = a.to_double();
  std::vector<int64_t> stored(n), used(m, 0);
  for (int i = 0; i < n; ++i) {
    const double j = v[i];
    if (j < -1 || j >= m || j != std::floor(j))
      throw InputError(path + ": row " + std::to_string(i) + " is assigned column " + std::to_string((long long)j) + " of " +
                       std::to_string(m));
    stored[i] = (int64_t)j;
    if (j >= 0 && used[(size_t)j]++)
      throw InputError(path + ": column " + std::to_string((long long)j) + " is assigned twice (not one-to-one)");
  }
  if (!flip) return stored;
  std::vector<int64_t> inv(rows, -1);
  for (int i = 0; i < n; ++i)
    if (stored[i] >= 0) inv[stored[i]] = i;
  return inv;
}

Moments read_layer_moments(const CorrelateOutput& o, const std::string& layer) {
  o.layer(layer);  // names the layers when this one is not there
  return load_moments(o.dir + "/" + layer + "/moments");
}

std::vector<Moments> read_layer_block_moments(const CorrelateOutput& o, const std::string& layer, const Moments& total) {
  o.layer(layer);
  return load_block_moments(o.dir + "/" + layer + "/moments/blocks", total);
}

}  // namespace cvg
