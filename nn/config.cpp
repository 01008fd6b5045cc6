#include "nn/config.h"

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "nn/io.h"

namespace cvg {

using json = nlohmann::json;

float SolverConfig::lr_at(long long iter) const {
  if (lr_policy == "fixed") return base_lr;
  return base_lr * std::pow(gamma, (float)(iter / stepsize));
}

namespace {

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
  int positive(const char* key, int def) {
    int v = get<int>(key, def);
    if (v <= 0) fail(std::string("'") + key + "' must be positive, got " + std::to_string(v));
    return v;
  }
  void pair(const char* key, float out[2]) {
    used.insert(key);
    if (!j.contains(key)) return;
    const json& v = j.at(key);
    if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number())
      fail(std::string("'") + key + "' must be [weights, bias], got " + v.dump());
    out[0] = v[0].get<float>(), out[1] = v[1].get<float>();
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
  Reader r{j, origin + ": layer " + L.name};
  L.type = j.value("type", "");
  static const std::set<std::string> types{"conv", "relu", "maxpool", "lrn", "fc", "dropout", "softmax_loss"};
  if (!types.count(L.type))
    r.fail("unknown type '" + L.type + "' (expected conv, relu, maxpool, lrn, fc, dropout, softmax_loss)");
  if (L.type == "conv" || L.type == "fc") {
    r.used.insert("num_output");
    const json& no = j.contains("num_output") ? j.at("num_output") : json();
    if (no.is_string() && no.get<std::string>() == "classes" && L.type == "fc") L.num_output = -1;
    else if (no.is_number_integer() && no.get<int>() > 0) L.num_output = no.get<int>();
    else r.fail("'num_output' must be a positive integer" + std::string(L.type == "fc" ? " or \"classes\"" : "") + ", got " + no.dump());
    r.used.insert("weight_std");
    if (j.contains("weight_std")) {
      const json& s = j.at("weight_std");
      if (s.is_string() && s.get<std::string>() == "msra") L.weight_std = -1;
      else if (s.is_number() && s.get<float>() > 0) L.weight_std = s.get<float>();
      else r.fail("'weight_std' must be a positive number or \"msra\", got " + s.dump());
    }
    L.bias = r.get<float>("bias", 0.0f);
    r.pair("lr_mult", L.lr_mult);
    r.pair("decay_mult", L.decay_mult);
  }
  if (L.type == "conv") {
    L.kernel_size = r.positive("kernel_size", 1);
    L.stride = r.positive("stride", 1);
    L.pad = r.get<int>("pad", 0);
    if (L.pad < 0) r.fail("'pad' must be >= 0");
    L.group = r.positive("group", 1);
  } else if (L.type == "maxpool") {
    L.kernel_size = r.positive("kernel_size", 2);
    L.stride = r.positive("stride", L.kernel_size);
    L.pad = r.get<int>("pad", 0);
    if (L.pad < 0 || L.pad >= L.kernel_size) r.fail("'pad' must be in [0, kernel_size)");
  } else if (L.type == "lrn") {
    L.local_size = r.positive("local_size", 5);
    if (L.local_size % 2 == 0) r.fail("'local_size' must be odd (Caffe's across-channel LRN)");
    L.alpha = r.get<float>("alpha", 1e-4f);
    L.beta = r.get<float>("beta", 0.75f);
    L.k = r.get<float>("k", 1.0f);
    if (L.k <= 0) r.fail("'k' must be positive");
  } else if (L.type == "dropout") {
    L.ratio = r.get<float>("ratio", 0.5f);
    if (!(L.ratio >= 0 && L.ratio < 1)) r.fail("'ratio' must be in [0, 1)");
  }
  r.no_unknown_keys();
  return L;
}

}  // namespace

NetConfig parse_net_config(const std::string& text, const std::string& origin) {
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
  c.name = j.value("name", "");
  if (c.name.empty()) throw InputError(origin + ": missing 'name'");
  c.about = j.value("about", "");
  if (!j.contains("input") || !j["input"].is_array() || j["input"].size() != 3)
    throw InputError(origin + ": 'input' must be [channels, height, width]");
  for (auto& v : j["input"]) {
    if (!v.is_number_integer() || v.get<int>() <= 0) throw InputError(origin + ": 'input' entries must be positive integers");
    c.input.push_back(v.get<int>());
  }
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
    Reader r{j["solver"], origin + ": solver"};
    SolverConfig& s = c.solver;
    s.base_lr = r.get<float>("base_lr", s.base_lr);
    s.lr_policy = r.get<std::string>("lr_policy", s.lr_policy);
    if (s.lr_policy != "step" && s.lr_policy != "fixed") r.fail("'lr_policy' must be step or fixed");
    s.gamma = r.get<float>("gamma", s.gamma);
    s.stepsize = r.get<long long>("stepsize", s.stepsize);
    if (s.stepsize <= 0) r.fail("'stepsize' must be positive");
    s.max_iter = r.get<long long>("max_iter", s.max_iter);
    s.momentum = r.get<float>("momentum", s.momentum);
    s.weight_decay = r.get<float>("weight_decay", s.weight_decay);
    s.batch = r.positive("batch", s.batch);
    r.no_unknown_keys();
  }
  return c;
}

NetConfig load_net_config(const std::string& path) {
  auto bytes = read_file(path);
  return parse_net_config(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace cvg
