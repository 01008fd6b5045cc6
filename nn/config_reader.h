// The field reader of net configs (nn/config.cpp): one JSON object's fields, each checked for type
// and range, with errors that name the file and the layer. Layer kinds read their own fields with it
// (nn/layers.cpp).
#pragma once
#include <cmath>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "base/errors.h"

namespace cvg {

// Bounds on sizes in a config: far above any real net, far below what would overflow an int or
// exhaust memory before the net could say which field is wrong.
constexpr int kMaxDim = 1 << 16;     // input sides and channels, num_output, group
constexpr int kMaxWindow = 1 << 12;  // kernel_size, stride, pad, local_size
constexpr int kMaxBatch = 1 << 16;

// A JSON integer (unsigned ones may exceed long long) in [lo, hi].
inline bool in_range(const nlohmann::json& v, long long lo, long long hi) {
  if (v.is_number_unsigned()) {
    unsigned long long u = v.get<unsigned long long>();
    return u <= (unsigned long long)hi && (lo <= 0 || u >= (unsigned long long)lo);
  }
  return v.is_number_integer() && v.get<long long>() >= lo && v.get<long long>() <= hi;
}

struct ConfigReader {
  using json = nlohmann::json;
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

}  // namespace cvg
