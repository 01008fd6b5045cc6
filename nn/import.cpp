#include "nn/import.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "base/npy.h"
#include "base/io.h"

namespace cvg {

using json = nlohmann::json;

std::string shape_string(const std::vector<int>& shape) {
  std::string r = "[";
  for (size_t i = 0; i < shape.size(); ++i) r += (i ? ", " : "") + std::to_string(shape[i]);
  return r + "]";
}

namespace {

float f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h >> 15) << 31;
  int exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((uint32_t)(exp - 15 + 127) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {        // subnormal: shift the mantissa up until its leading 1 is the implicit bit
    exp = 1;
    while (!(mant & 0x400)) mant <<= 1, --exp;
    bits = sign | ((uint32_t)(exp - 15 + 127) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Removes a temporary run folder and all it holds (nothing when it does not exist).
void remove_folder(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

std::string tensor_error(const std::string& name, const std::string& what) { return "tensor '" + name + "': " + what; }

}  // namespace

std::vector<NamedTensor> parse_safetensors(const uint8_t* data, size_t size) {
  if (size < 8) throw InputError("not a safetensors file (shorter than its 8-byte header length)");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | data[i];
  if (hlen > size - 8) throw InputError("header length " + std::to_string(hlen) + " runs past the end of the file");
  // The JSON parser stops at a NUL byte, which could hide bytes after it; JSON text has none.
  if (std::memchr(data + 8, 0, hlen)) throw InputError("header holds a NUL byte (not JSON text)");
  json header;
  std::set<std::string> names;  // the parser keeps the last of keys given twice: so they are caught here
  std::string twice;
  try {
    header = json::parse(data + 8, data + 8 + hlen, [&](int depth, json::parse_event_t event, json& parsed) {
      if (event == json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second && twice.empty())
        twice = parsed.get<std::string>();
      return true;
    });
  } catch (const json::exception&) {
    throw InputError("header is not valid JSON");
  }
  if (!twice.empty()) throw InputError(tensor_error(twice, "named twice in the header"));
  if (!header.is_object()) throw InputError("header is not a JSON object");
  const uint8_t* payload = data + 8 + hlen;
  const size_t payload_size = size - 8 - hlen;
  std::vector<NamedTensor> out;
  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const json& e = it.value();
    auto bad = [&](const std::string& what) { return InputError(tensor_error(name, what)); };
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw bad("needs \"dtype\", \"shape\" and \"data_offsets\"");
    const json &dt = e["dtype"], &sh = e["shape"], &off = e["data_offsets"];
    if (!dt.is_string()) throw bad("dtype is not a string");
    const std::string dtype = dt.get<std::string>();
    size_t item = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16") ? 2 : 0;
    if (!item) throw bad("dtype " + dtype + " (F32, F16 and BF16 are accepted)");
    if (!sh.is_array()) throw bad("shape is not an array");
    NamedTensor t;
    t.name = name;
    size_t numel = 1;
    for (const json& d : sh) {  // named by value or type, never dumped: a nested array's dump recurses per level
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t)std::numeric_limits<int>::max())
        throw bad("shape entry " + (d.is_number() ? d.dump() : "of type " + std::string(d.type_name())) +
                  " is not a size (an integer from 0 to 2^31 - 1)");
      size_t n = d.get<size_t>();
      if (n && numel > std::numeric_limits<size_t>::max() / 4 / n) throw bad("shape is too large (its product overflows)");
      numel *= n;
      t.shape.push_back((int)n);
    }
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets is not [begin, end]");
    uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end) throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] end before they begin");
    if (end > payload_size)
      throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] outside the " +
                std::to_string(payload_size) + "-byte data section");
    if (end - begin != numel * item)
      throw bad(std::to_string(end - begin) + " bytes for shape " + shape_string(t.shape) + " of " + dtype + " (expected " +
                std::to_string(numel * item) + ")");
    ranges.push_back({begin, end, name});
    const uint8_t* p = payload + begin;
    t.values.resize(numel);
    if (item == 4) {
      if (numel)
        std::memcpy(
            t.values.data(), p,
            numel * 4);  // an empty vector's data() may be null  // little-endian host, as the rest of the project assumes
    } else {
      for (size_t i = 0; i < numel; ++i) {
        uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        t.values[i] = dtype == "F16" ? f16_to_f32(h) : bf16_to_f32(h);
      }
    }
    out.push_back(std::move(t));
  }
  // The format's rule: the tensors tile the data section exactly, no overlap and no hole (so no
  // tensor reads another's bytes and no file carries hidden data).
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  uint64_t at = 0;
  const std::string* last = nullptr;
  for (const Range& r : ranges) {
    if (r.begin < at) throw InputError("tensors '" + *last + "' and '" + r.name + "' share bytes of the data section");
    if (r.begin > at)
      throw InputError("bytes " + std::to_string(at) + ".." + std::to_string(r.begin) + " of the data section belong to no tensor");
    at = r.end, last = &r.name;
  }
  if (at != payload_size)
    throw InputError(std::to_string(payload_size - at) + " bytes after the last tensor's data belong to no tensor");
  return out;
}

std::vector<NamedTensor> read_safetensors(const std::string& path) {
  std::vector<char> b = read_file(path);
  try {
    return parse_safetensors(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

std::vector<NamedTensor> read_npy_folder(const std::string& dir) {
  std::vector<std::string> files;
  DIR* d = opendir(dir.c_str());
  if (!d) throw InputError(dir + ": cannot open folder (" + std::strerror(errno) + ")");
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    // Hidden files skipped, as in image folders: macOS copies leave "._<name>.npy" metadata beside each file.
    if (n[0] != '.' && n.size() > 4 && n.substr(n.size() - 4) == ".npy") files.push_back(n);
  }
  closedir(d);
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(dir + ": no .npy files here (write them with bin/train --export-npy CKPT DIR)");
  std::vector<NamedTensor> out;
  for (const std::string& f : files) {
    NpyArray a = read_npy(dir + "/" + f);
    if (a.dtype != "<f4") throw InputError(dir + "/" + f + ": dtype " + a.dtype + ", expected float32 (<f4)");
    NamedTensor t;
    t.name = f.substr(0, f.size() - 4);
    for (size_t s : a.shape) {
      if (s > (size_t)std::numeric_limits<int>::max()) throw InputError(dir + "/" + f + ": dimension too large");
      t.shape.push_back((int)s);
    }
    t.values = a.to_float();
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<NamedTensor> read_weights(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(path + ": not found");
  if (S_ISDIR(st.st_mode)) return read_npy_folder(path);
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0)
    throw InputError(path + ": a single .npy file; --from takes a folder of .npy files (one per parameter) or a .safetensors file");
  return read_safetensors(path);
}

std::map<std::string, std::string> read_name_map(const std::string& path) {
  std::vector<char> b = read_file(path);
  json j;
  try {
    j = json::parse(b.begin(), b.end());
  } catch (const json::exception&) {
    throw InputError(path + ": not valid JSON");
  }
  if (!j.is_object()) throw InputError(path + ": expected a JSON object {\"their name\": \"our name\", ...}");
  std::map<std::string, std::string> m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) throw InputError(path + ": the value of '" + it.key() + "' is not a string");
    m[it.key()] = it.value().get<std::string>();
  }
  return m;
}

void rename_tensors(std::vector<NamedTensor>& tensors, const std::map<std::string, std::string>& map, const std::string& origin) {
  std::set<std::string> seen, mapped;
  for (NamedTensor& t : tensors) {
    auto it = map.find(t.name);
    if (it != map.end()) mapped.insert(t.name);
    std::string to = it == map.end() ? t.name : it->second;
    if (!seen.insert(to).second) throw InputError(origin + ": two tensors are named '" + to + "' (after the name map)");
    t.name = to;
  }
  for (const auto& [from, to] : map)  // a typo in the map would otherwise show only as a missing tensor
    if (!mapped.count(from))
      std::fprintf(stderr, "warning: name map: no tensor '%s' in %s (its entry -> '%s' is unused)\n", from.c_str(), origin.c_str(),
                   to.c_str());
}

int classes_from_tensors(const NetConfig& cfg, const std::vector<NamedTensor>& tensors) {
  for (const LayerConfig& l : cfg.layers)
    if (l.type == "fc" && l.num_output < 0)
      for (const NamedTensor& t : tensors)
        if (t.name == l.name + ".weight" && !t.shape.empty()) return t.shape[0];
  return -1;
}

void load_tensors(Net& net, const std::vector<NamedTensor>& tensors, const std::string& origin) {
  std::map<std::string, const NamedTensor*> by_name;
  for (const NamedTensor& t : tensors)
    if (!by_name.emplace(t.name, &t).second) throw InputError(origin + ": tensor '" + t.name + "' appears twice");
  std::vector<std::string> missing;
  std::set<std::string> used;
  for (Param* p : net.params()) {
    auto it = by_name.find(p->name);
    if (it == by_name.end()) {
      missing.push_back(p->name);
      continue;
    }
    const NamedTensor& t = *it->second;
    if (t.shape != p->shape)
      throw InputError(origin + ": tensor '" + t.name + "' of layer " + p->name.substr(0, p->name.find('.')) +
                       ": expected shape " + shape_string(p->shape) + ", found " + shape_string(t.shape));
    used.insert(p->name);
  }
  std::vector<std::string> extra;
  for (const NamedTensor& t : tensors)
    if (!used.count(t.name)) extra.push_back(t.name);
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& n : v) s += (s.empty() ? "'" : ", '") + n + "'";
    return s;
  };
  if (!missing.empty())
    throw InputError(origin + ": missing tensor" + (missing.size() > 1 ? "s " : " ") + list(missing) + " of net " +
                     net.config().name + (extra.empty() ? "" : " (unused: " + list(extra) + "; a name map may be needed)"));
  if (!extra.empty())
    throw InputError(origin + ": extra tensor" + (extra.size() > 1 ? "s " : " ") + list(extra) + ", not parameters of net " +
                     net.config().name);
  for (Param* p : net.params()) {  // checked before anything is written: a run folder never holds NaN weights
    const std::vector<float>& v = by_name.at(p->name)->values;
    for (size_t k = 0; k < v.size(); ++k)
      if (!std::isfinite(v[k]))
        throw InputError(origin + ": tensor '" + p->name + "' holds " + (std::isnan(v[k]) ? "NaN" : "an infinite value") +
                         " at flat index " + std::to_string(k));
  }
  for (Param* p : net.params()) {
    p->value.data.from_host(by_name.at(p->name)->values);
    p->momentum.data.zero();
  }
}

std::string write_run_folder(const std::string& dir, Net& net, const CheckpointInfo& info,
                             const std::function<void(const std::string& folder)>& also) {
  require_new_folder(dir);
  const std::string base = strip_slashes(dir);
  // No live process shares our pid, so a folder of this name was left by a killed one: never reused.
  const std::string tmp = base + ".tmp." + std::to_string(::getpid());
  remove_folder(tmp);
  make_dirs(tmp);
  const std::string name = checkpoint_name(info.iteration);
  try {
    if (also) also(tmp);
    save_checkpoint(tmp + "/" + name, net, info);
    if (std::rename(tmp.c_str(), base.c_str()) != 0)
      throw InputError(dir + ": cannot move the new run folder into place (" + std::strerror(errno) + ")");
  } catch (...) {
    remove_folder(tmp);
    throw;
  }
  return base + "/" + name;
}

}  // namespace cvg
