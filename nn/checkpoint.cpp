#include "nn/checkpoint.h"

#include <dirent.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cinttypes>
#include <cstring>

#include "base/io.h"
#include "base/log.h"

namespace cvg {

using json = nlohmann::json;
static const char kMagic[8] = {'C', 'V', 'G', 'C', 'K', 'P', 'T', '1'};
static const uint32_t kVersion = 1;

template <class T>
static void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void save_checkpoint(const std::string& path, Net& net, const CheckpointInfo& info) {
  json h;
  h["format"] = kVersion;
  h["net"] = net.config().name;
  h["config"] = net.config().json;
  h["config_path"] = net.config().path;
  h["input"] = net.input_shape();
  h["classes"] = net.num_classes();
  h["seed"] = info.seed;
  h["iteration"] = info.iteration;
  h["data"] = {{"spec", info.data_spec}, {"epoch", info.data_epoch}, {"index", info.data_index}, {"order_seed", info.order_seed}};
  if (const auto& S = info.solver)
    h["solver"] = {{"batch", S->batch},       {"base_lr", S->base_lr},   {"lr_policy", S->lr_policy},      {"gamma", S->gamma},
                   {"stepsize", S->stepsize}, {"momentum", S->momentum}, {"weight_decay", S->weight_decay}};
  h["extra"] = info.extra;
  json plist = json::array();
  size_t offset = 0;
  for (Param* p : net.params()) {
    plist.push_back({{"name", p->name}, {"shape", p->shape}, {"offset", offset}});
    offset += 2 * p->value.numel();
  }
  h["params"] = plist;
  std::string head = h.dump();

  std::string out(kMagic, 8);
  put<uint32_t>(out, kVersion);
  put<uint64_t>(out, head.size());
  out += head;
  for (Param* p : net.params()) {
    for (const Tensor* t : {&p->value, &p->momentum}) {
      std::vector<float> v = t->data.to_host();
      for (float x : v)
        if (!std::isfinite(x))
          throw NonFiniteError(path + ": not written: parameter " + p->name + (t == &p->value ? "" : " (momentum)") +
                               " holds NaN/Inf");
      out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    }
  }
  put<uint32_t>(out, (uint32_t)crc32(0L, reinterpret_cast<const Bytef*>(out.data()), (uInt)out.size()));
  write_file_atomic(path, out);
}

Checkpoint read_checkpoint(const std::string& path) {
  std::vector<char> b = read_file(path);
  auto bad = [&](const std::string& what) { return InputError(path + ": " + what); };
  if (b.size() < 8 + 4 + 8 + 4 || std::memcmp(b.data(), kMagic, 8) != 0) throw bad("not a convergent checkpoint (bad magic)");
  uint32_t version;
  uint64_t hlen;
  std::memcpy(&version, b.data() + 8, 4);
  std::memcpy(&hlen, b.data() + 12, 8);
  if (version > kVersion)
    throw NewerFormatError(path + ": written by a newer convergent (checkpoint format version " + std::to_string(version) +
                           ", this build reads " + std::to_string(kVersion) + "); use a newer bin/ to read it");
  if (version != kVersion)
    throw bad("checkpoint format version " + std::to_string(version) + ", this build reads " + std::to_string(kVersion));
  if (hlen > b.size() - 24) throw bad("truncated (header runs past the end)");
  uint32_t stored;
  std::memcpy(&stored, b.data() + b.size() - 4, 4);
  if ((uint32_t)crc32(0L, reinterpret_cast<const Bytef*>(b.data()), (uInt)(b.size() - 4)) != stored)
    throw bad("checksum mismatch (file damaged or truncated)");
  Checkpoint c;
  c.path = path;
  try {
    c.header = json::parse(b.begin() + 20, b.begin() + 20 + hlen);
    c.config = parse_net_config(c.header.at("config").get<std::string>(), path + " (embedded config)");
    c.input = c.header.at("input").get<std::vector<int>>();
    c.classes = c.header.at("classes").get<int>();
    c.info.seed = c.header.at("seed").get<uint64_t>();
    c.info.iteration = c.header.at("iteration").get<long long>();
    const json& d = c.header.at("data");
    c.info.data_spec = d.at("spec").get<std::string>();
    c.info.data_epoch = d.at("epoch").get<long long>();
    c.info.data_index = d.at("index").get<long long>();
    c.info.order_seed = d.at("order_seed").get<uint64_t>();
    if (c.header.contains("solver")) {
      const json& j = c.header.at("solver");
      SolverConfig S;
      S.batch = j.at("batch").get<int>(), S.base_lr = j.at("base_lr").get<float>(), S.lr_policy = j.at("lr_policy").get<std::string>();
      S.gamma = j.at("gamma").get<float>(), S.stepsize = j.at("stepsize").get<long long>();
      S.momentum = j.at("momentum").get<float>(), S.weight_decay = j.at("weight_decay").get<float>();
      if (const std::string problem = S.range_problem(); !problem.empty()) throw bad("solver: " + problem);
      c.info.solver = S;
    }
    c.info.extra = c.header.value("extra", json::object());
    if (c.input.size() != 3) throw bad("'input' must be [c, h, w]");
    for (int v : c.input)
      if (v <= 0 || v > (1 << 16)) throw bad("'input' entries must be in [1, 65536]");
    if (c.classes <= 0 || c.classes > (1 << 16)) throw bad("'classes' must be in [1, 65536], got " + std::to_string(c.classes));
    if (c.info.iteration < 0) throw bad("negative iteration " + std::to_string(c.info.iteration));
    if (c.info.data_epoch < 0 || c.info.data_index < 0) throw bad("negative data position");
    for (const json& p : c.header.at("params")) {
      check_path_component(p.at("name").get<std::string>(), "parameter name", path);
      const json& shape = p.at("shape");
      // Named by size, value or type, never dumped: a nested array's dump recurses once per level.
      if (!shape.is_array() || shape.empty() || shape.size() > 4)
        throw bad("parameter shape must have 1 to 4 dimensions, got " +
                  (shape.is_array() ? std::to_string(shape.size()) : "a " + std::string(shape.type_name())));
      for (const json& d : shape)
        if (!d.is_number_integer() || d.get<long long>() <= 0 || d.get<long long>() > (1LL << 30))
          throw bad("parameter " + p.at("name").get<std::string>() +
                    ": shape entries must be positive integers up to 2^30, got " +
                    (d.is_number() ? d.dump() : "a " + std::string(d.type_name())));
      if (!p.at("offset").is_number_unsigned()) throw bad("parameter offset must be a non-negative integer");
    }
  } catch (const json::exception& e) {
    throw bad(std::string("bad header (") + e.what() + ")");
  }
  size_t payload_bytes = b.size() - 24 - hlen;
  if (payload_bytes % sizeof(float)) throw bad("payload is not a whole number of floats");
  c.payload.resize(payload_bytes / sizeof(float));
  std::memcpy(c.payload.data(), b.data() + 20 + hlen, payload_bytes);
  size_t expect = 0;
  for (const Checkpoint::View& v : c.params()) {
    size_t n = Tensor::numel_of(v.shape);
    if (v.values != c.payload.data() + expect) throw bad("parameter " + v.name + " is not where the header says");
    expect += 2 * n;
  }
  if (expect != c.payload.size()) throw bad("payload size does not match the parameter list");
  return c;
}

std::vector<Checkpoint::View> Checkpoint::params() const {
  std::vector<View> out;
  for (const json& p : header.at("params")) {
    size_t off = p.at("offset").get<size_t>();
    std::vector<int> shape = p.at("shape").get<std::vector<int>>();
    size_t n = 1;
    for (int d : shape) n = d > 0 && n <= payload.size() ? n * (size_t)d : payload.size() + 1;
    if (off > payload.size() || n > payload.size() || 2 * n > payload.size() - off)
      throw InputError(path + ": parameter " + p.at("name").get<std::string>() + " runs past the payload");
    out.push_back({p.at("name").get<std::string>(), shape, payload.data() + off});
  }
  return out;
}

void Checkpoint::load_into(Net& net) const {
  auto views = params();
  auto ps = net.params();
  if (views.size() != ps.size())
    throw InputError(path + ": holds " + std::to_string(views.size()) + " parameters, the net has " + std::to_string(ps.size()));
  for (size_t i = 0; i < ps.size(); ++i) {
    if (views[i].name != ps[i]->name || views[i].shape != ps[i]->shape)
      throw InputError(path + ": parameter " + views[i].name + " does not match the net's " + ps[i]->name + " " +
                       ps[i]->value.shape_str());
    size_t n = ps[i]->value.numel();
    ps[i]->value.data.from_host(views[i].values, n);
    ps[i]->momentum.data.from_host(views[i].values + n, n);
  }
}

std::unique_ptr<Net> Checkpoint::make_net(const Device& dev, int max_batch) const {
  auto net = std::make_unique<Net>(config, input, classes, dev, max_batch);
  net->init(info.seed);
  load_into(*net);
  return net;
}

bool read_newest_checkpoint(const std::string& dir, Checkpoint* out, bool skip_all_damaged) {
  const std::vector<std::string> paths = list_checkpoints(dir);
  for (const std::string& path : paths) {
    try {
      *out = read_checkpoint(path);
      return true;
    } catch (const NewerFormatError&) {
      throw;
    } catch (const InputError& e) {
      log_warning(std::string(e.what()) + "; trying the previous checkpoint");
    }
  }
  if (!paths.empty() && !skip_all_damaged)
    throw InputError(dir + ": all " + std::to_string(paths.size()) +
                     " checkpoints are damaged (see the warnings)");
  return false;
}

int remove_stale_temporaries(const std::string& dir) {
  int n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind("ckpt-", 0) == 0 && name.find(".tmp.") != std::string::npos && std::remove((dir + "/" + name).c_str()) == 0)
        ++n;
    }
    closedir(d);
  }
  return n;
}

std::string checkpoint_name(long long iteration) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "ckpt-%09lld.bin", iteration);
  return buf;
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() == 18 && n.rfind("ckpt-", 0) == 0 && n.substr(14) == ".bin") names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.rbegin(), names.rend());
  for (auto& n : names) n = dir + "/" + n;
  return names;
}

}  // namespace cvg
