#include "nn/config.h"

#include <cmath>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "base/io.h"

namespace cvg {

using json = nlohmann::json;

float SolverConfig::lr_at(long long iter) const {
  if (lr_policy == "fixed") return base_lr;
  return base_lr * std::pow(gamma, (float)(iter / stepsize));
}

namespace {

// Bounds on sizes in a config: far above any real net, far below what would overflow an int or
// exhaust memory before the net could say which field is wrong.
constexpr int kMaxDim = 1 << 16;       // input sides and channels, num_output, group
constexpr int kMaxWindow = 1 << 12;    // kernel_size, stride, pad, local_size
constexpr int kMaxBatch = 1 << 16;

// A JSON integer (unsigned ones may exceed long long) in [lo, hi].
bool in_range(const json& v, long long lo, long long hi) {
  if (v.is_number_unsigned()) {
    unsigned long long u = v.get<unsigned long long>();
    return u <= (unsigned long long)hi && (lo <= 0 || u >= (unsigned long long)lo);
  }
  return v.is_number_integer() && v.get<long long>() >= lo && v.get<long long>() <= hi;
}

struct Reader {
  const json& j;
  std::string where;  // "<file>: layer conv1"
  std::set<std::string> used{"name", "type"};

  [[noreturn]] void fail(const std::string& what) const { throw InputError(where + ": " + what); }
  template <class T>
  T get(const char* key, T def) {
    used.insert(key);
    if (!j.contains(key)) return def;
    try {
      return j.at(key).get<T>();
    } catch (const json::exception&) {
      fail(std::string("'") + key + "' has the wrong type: " + j.at(key).dump());
    }
  }
  // A JSON integer (not 2.5, not 2.0) in [lo, hi]: nlohmann's get<int> would wrap 2^32+k to k.
  long long integer(const char* key, long long def, long long lo, long long hi) {
    used.insert(key);
    if (!j.contains(key)) return def;
    return integer_value(j.at(key), key, lo, hi);
  }
  long long integer_value(const json& v, const std::string& key, long long lo, long long hi) const {
    if (!in_range(v, lo, hi))
      fail("'" + key + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
    return v.get<long long>();
  }
  int positive(const char* key, int def, int hi = kMaxDim) { return (int)integer(key, def, 1, hi); }
  // A finite number (1e39 would become an infinite float).
  float real(const char* key, float def) {
    used.insert(key);
    if (!j.contains(key)) return def;
    const json& v = j.at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>()) || std::fabs(v.get<double>()) > 3.0e38)
      fail(std::string("'") + key + "' must be a finite number, got " + v.dump());
    return v.get<float>();
  }
  void pair(const char* key, float out[2]) {
    used.insert(key);
    if (!j.contains(key)) return;
    const json& v = j.at(key);
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
      fail(std::string("'") + key + "' must be [weights, bias], got " + v.dump());
    for (int k = 0; k < 2; ++k) {
      if (!std::isfinite(v[k].get<double>()) || std::fabs(v[k].get<double>()) > 3.0e38)
        fail(std::string("'") + key + "' entries must be finite, got " + v.dump());
      out[k] = v[k].get<float>();
    }
  }
  void no_unknown_keys() const {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!used.count(it.key())) fail("unknown field '" + it.key() + "'");
  }
};

LayerConfig parse_layer(const json& j, const std::string& origin, size_t index) {
  if (!j.is_object()) throw InputError(origin + ": layer #" + std::to_string(index) + " is not an object");
  LayerConfig L;
  L.name = j.value("name", "");
  if (L.name.empty()) throw InputError(origin + ": layer #" + std::to_string(index) + " has no name");
  check_path_component(L.name, "layer name", origin);
  Reader r{j, origin + ": layer " + L.name};
  L.type = j.value("type", "");
  static const std::set<std::string> types{"conv", "relu", "maxpool", "lrn", "fc", "dropout", "softmax_loss"};
  if (!types.count(L.type))
    r.fail("unknown type '" + L.type + "' (expected conv, relu, maxpool, lrn, fc, dropout, softmax_loss)");
  if (L.type == "conv" || L.type == "fc") {
    r.used.insert("num_output");
    const json& no = j.contains("num_output") ? j.at("num_output") : json();
    if (no.is_string() && no.get<std::string>() == "classes" && L.type == "fc") L.num_output = -1;
    else if (in_range(no, 1, kMaxDim)) L.num_output = no.get<int>();
    else r.fail("'num_output' must be a positive integer" + std::string(L.type == "fc" ? " or \"classes\"" : "") + " (at most 65536), got " + no.dump());
    r.used.insert("weight_std");
    if (j.contains("weight_std")) {
      const json& s = j.at("weight_std");
      if (s.is_string() && s.get<std::string>() == "msra") L.weight_std = -1;
      else if (s.is_number() && s.get<double>() > 0 && s.get<double>() < 1e30) L.weight_std = s.get<float>();
      else r.fail("'weight_std' must be a positive number or \"msra\", got " + s.dump());
    }
    L.bias = r.real("bias", 0.0f);
    r.pair("lr_mult", L.lr_mult);
    r.pair("decay_mult", L.decay_mult);
  }
  if (L.type == "conv") {
    L.kernel_size = r.positive("kernel_size", 1, kMaxWindow);
    L.stride = r.positive("stride", 1, kMaxWindow);
    L.pad = (int)r.integer("pad", 0, 0, kMaxWindow);
    L.group = r.positive("group", 1);
  } else if (L.type == "maxpool") {
    L.kernel_size = r.positive("kernel_size", 2, kMaxWindow);
    L.stride = r.positive("stride", L.kernel_size, kMaxWindow);
    L.pad = (int)r.integer("pad", 0, 0, L.kernel_size - 1);
  } else if (L.type == "lrn") {
    L.local_size = r.positive("local_size", 5, kMaxWindow);
    if (L.local_size % 2 == 0) r.fail("'local_size' must be odd (Caffe's across-channel LRN)");
    L.alpha = r.real("alpha", 1e-4f);
    L.beta = r.real("beta", 0.75f);
    L.k = r.real("k", 1.0f);
    if (L.k <= 0) r.fail("'k' must be positive");
  } else if (L.type == "dropout") {
    L.ratio = r.real("ratio", 0.5f);
    if (!(L.ratio >= 0 && L.ratio < 1)) r.fail("'ratio' must be in [0, 1)");
  }
  r.no_unknown_keys();
  return L;
}

}  // namespace

static NetConfig parse_checked(const std::string& text, const std::string& origin);

NetConfig parse_net_config(const std::string& text, const std::string& origin) {
  try {
    return parse_checked(text, origin);
  } catch (const json::exception& e) {  // a field of an unexpected JSON type deep inside
    throw InputError(origin + ": " + e.what());
  }
}

static NetConfig parse_checked(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw InputError(origin + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw InputError(origin + ": expected a JSON object");
  NetConfig c;
  c.path = origin;
  c.json = text;
  Reader top{j, origin, {"name", "about", "input", "layers", "solver"}};
  top.no_unknown_keys();
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    throw InputError(origin + ": missing 'name'");
  c.name = j["name"].get<std::string>();
  check_path_component(c.name, "net name", origin);
  if (j.contains("about") && !j["about"].is_string()) throw InputError(origin + ": 'about' must be a string");
  c.about = j.value("about", "");
  if (!j.contains("input") || !j["input"].is_array() || j["input"].size() != 3)
    throw InputError(origin + ": 'input' must be [channels, height, width]");
  for (auto& v : j["input"]) c.input.push_back((int)top.integer_value(v, "input", 1, kMaxDim));
  if (!j.contains("layers") || !j["layers"].is_array() || j["layers"].empty())
    throw InputError(origin + ": 'layers' must be a non-empty array");
  std::set<std::string> names;
  for (size_t i = 0; i < j["layers"].size(); ++i) {
    LayerConfig L = parse_layer(j["layers"][i], origin, i);
    if (!names.insert(L.name).second) throw InputError(origin + ": layer " + L.name + ": duplicate name");
    bool last = i + 1 == j["layers"].size();
    if ((L.type == "softmax_loss") != last)
      throw InputError(origin + ": layer " + L.name + ": softmax_loss must be the last layer, and the last layer must be softmax_loss");
    c.layers.push_back(L);
  }
  if (j.contains("solver")) {
    if (!j["solver"].is_object()) throw InputError(origin + ": 'solver' must be an object");
    Reader r{j["solver"], origin + ": solver"};
    SolverConfig& s = c.solver;
    s.base_lr = r.real("base_lr", s.base_lr);
    s.lr_policy = r.get<std::string>("lr_policy", s.lr_policy);
    if (s.lr_policy != "step" && s.lr_policy != "fixed") r.fail("'lr_policy' must be step or fixed");
    s.gamma = r.real("gamma", s.gamma);
    s.stepsize = r.integer("stepsize", s.stepsize, 1, std::numeric_limits<long long>::max());
    s.max_iter = r.integer("max_iter", s.max_iter, 1, std::numeric_limits<long long>::max());
    s.momentum = r.real("momentum", s.momentum);
    s.weight_decay = r.real("weight_decay", s.weight_decay);
    s.batch = r.positive("batch", s.batch, kMaxBatch);
    r.no_unknown_keys();
  }
  return c;
}

NetConfig load_net_config(const std::string& path) {
  auto bytes = read_file(path);
  return parse_net_config(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace cvg
