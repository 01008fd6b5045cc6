#include "nn/config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "base/io.h"
#include "base/log.h"
#include "nn/config_reader.h"
#include "nn/layers.h"

namespace cvg {

using json = nlohmann::json;

float SolverConfig::lr_at(long long iter) const {
  if (lr_policy == "fixed") return base_lr;
  return base_lr * std::pow(gamma, (float)(iter / stepsize));
}

long long SolverConfig::stepsize_for(long long iters) const {
  const __int128 step = (__int128)iters * stepsize / max_iter;  // no overflow: both factors < 2^63
  return (long long)std::clamp<__int128>(step, 1, std::numeric_limits<long long>::max());
}

std::string SolverConfig::range_problem() const {
  auto out_of = [](const char* key, double v, const char* range) { return strprintf("'%s' must be %s, got %g", key, range, v); };
  if (!(base_lr > 0)) return out_of("base_lr", base_lr, "positive");
  if (!(gamma > 0)) return out_of("gamma", gamma, "positive");
  if (!(momentum >= 0 && momentum < 1)) return out_of("momentum", momentum, "in [0, 1)");
  if (!(weight_decay >= 0)) return out_of("weight_decay", weight_decay, "at least 0");
  if (stepsize < 1 || max_iter < 1 || batch < 1) return out_of("stepsize, max_iter or batch", 0, "at least 1");
  if (lr_policy != "step" && lr_policy != "fixed") return "'lr_policy' must be step or fixed, got " + lr_policy;
  return "";
}

namespace {

LayerConfig parse_layer(const json& j, const std::string& origin, size_t index) {
  if (!j.is_object()) throw InputError(origin + ": layer #" + std::to_string(index) + " is not an object");
  LayerConfig L;
  L.name = j.value("name", "");
  if (L.name.empty()) throw InputError(origin + ": layer #" + std::to_string(index) + " has no name");
  check_path_component(L.name, "layer name", origin);
  ConfigReader r{j, origin + ": layer " + L.name};
  L.type = j.value("type", "");
  const LayerKind* kind = find_layer_kind(L.type);
  if (!kind) r.fail("unknown type '" + L.type + "' (expected " + layer_kind_names() + ")");
  kind->parse(r, L);
  r.no_unknown_keys();
  return L;
}

// The kind that ends every net, and only there (softmax_loss).
std::string head_kind_name() {
  for (const LayerKind& k : layer_kinds())
    if (k.head) return k.name;
  return "";
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
  ConfigReader top{j, origin, {"name", "about", "input", "layers", "solver"}};
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
    if (layer_kind(L.type).head != last)
      throw InputError(origin + ": layer " + L.name + ": " + head_kind_name() +
                       " must be the last layer, and the last layer must be " + head_kind_name());
    c.layers.push_back(L);
  }
  if (j.contains("solver")) {
    if (!j["solver"].is_object()) throw InputError(origin + ": 'solver' must be an object");
    ConfigReader r{j["solver"], origin + ": solver"};
    SolverConfig& s = c.solver;
    s.base_lr = r.real("base_lr", s.base_lr);
    s.lr_policy = r.get<std::string>("lr_policy", s.lr_policy);
    s.gamma = r.real("gamma", s.gamma);
    s.stepsize = r.integer("stepsize", s.stepsize, 1, std::numeric_limits<long long>::max());
    s.max_iter = r.integer("max_iter", s.max_iter, 1, std::numeric_limits<long long>::max());
    s.momentum = r.real("momentum", s.momentum);
    s.weight_decay = r.real("weight_decay", s.weight_decay);
    s.batch = r.positive("batch", s.batch, kMaxBatch);
    r.no_unknown_keys();
    if (const std::string problem = s.range_problem(); !problem.empty()) r.fail(problem);
  }
  return c;
}

NetConfig load_net_config(const std::string& path) {
  auto bytes = read_file(path);
  return parse_net_config(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace cvg
