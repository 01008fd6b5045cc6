#include "nn/export.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/io.h"
#include "base/npy.h"

namespace cvg {

namespace {
// The shortest decimal that reads back as the same float32.
std::string fmt_float(float x) {
  char buf[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, (double)x);
    if (std::strtof(buf, nullptr) == x) break;
  }
  return buf;
}
}  // namespace

namespace {
// An export folder (its config.json says so): the one kind of folder an export may replace.
bool looks_like_export(const std::string& dir) {
  if (!file_exists(dir + "/config.json")) return false;
  const std::vector<char> b = read_file(dir + "/config.json");
  const nlohmann::json j = nlohmann::json::parse(b.begin(), b.end(), nullptr, false);
  return j.is_object() && j.value("format", "") == "convergent-export";
}
const OutputOwner kExportOwner{"bin/train --export-npy", looks_like_export};

// DIR/<parameter>.npy and DIR/config.json.
int write_export(const Checkpoint& ck, const std::string& dir, const Dataset* data) {
  using json = nlohmann::json;
  json params = json::array();
  for (const Checkpoint::View& v : ck.params()) {
    check_path_component(v.name, "parameter name", ck.path);
    write_npy(dir + "/" + v.name + ".npy", v.values, std::vector<size_t>(v.shape.begin(), v.shape.end()));
    params.push_back({{"name", v.name}, {"shape", v.shape}, {"file", v.name + ".npy"}});
  }
  json pre = {{"data", ck.info.data_spec},
              {"formula", "x = (pixel / 255 - mean[c]) / std[c], pixel in 0..255, channels in RGB order (grey: 1 channel), CHW"}};
  if (data) {
    const Normalisation n = data->normalisation();
    const int c = data->shape().c;
    // Printed as the decimals they were written as (0.286, not 0.28600001335...): the float32 they
    // round to is the constant the engine uses.
    auto decimals = [](const float* v, int c) {
      std::vector<double> out;
      for (int i = 0; i < c; ++i) out.push_back(std::stod(fmt_float(v[i])));
      return out;
    };
    pre["mean"] = decimals(n.mean, c);
    pre["std"] = decimals(n.std, c);
    pre["dataset"] = data->describe();
  } else {
    pre["mean"] = nullptr, pre["std"] = nullptr;
    pre["note"] = "the training dataset could not be opened at export time; its constants are unknown";
  }
  json cfg = json::parse(ck.config.json, nullptr, false);
  json doc = {
      {"format", "convergent-export"},
      {"version", 1},
      {"net", cfg.is_discarded() ? json(ck.config.json) : cfg},
      {"net_name", ck.config.name},
      {"input", ck.input},
      {"classes", ck.classes},
      {"checkpoint", ck.path},
      {"seed", ck.info.seed},
      {"iteration", ck.info.iteration},
      {"parameters", params},
      {"weight_layout",
       {{"conv", "[out, in / group, kh, kw] (OIHW); groups split channels as Caffe and PyTorch do"},
        {"fc", "[out, in]; in = the previous output flattened in C, H, W order"}}},
      {"preprocessing", pre},
      {"pooling",
       {{"rounding", "ceil"},
        {"output_size", "ceil((in + 2 pad - kernel) / stride) + 1, less one when the last window would start past the image"},
        {"pytorch", "nn.MaxPool2d(kernel, stride, pad, ceil_mode=True)"}}},
      {"lrn",
       {{"formula", "y_c = x_c * (k + alpha / size * sum over channels c - size/2 .. c + size/2 of x^2) ^ -beta"},
        {"pytorch", "nn.LocalResponseNorm(size, alpha, beta, k) (same alpha / size convention)"}}},
      {"activations",
       "conv and fc layers are followed by the ReLU named after them in net.layers; dropout acts in training only"}};
  write_file_atomic(dir + "/config.json", doc.dump(1) + "\n");
  return (int)params.size();
}

}  // namespace

int export_checkpoint_npy(const Checkpoint& ck, const std::string& out, const Dataset* data) {
  for (const Checkpoint::View& v : ck.params())
    if (v.name.empty() || v.name.find('/') != std::string::npos || v.name[0] == '.')
      throw InputError(ck.path + ": parameter name '" + v.name + "' cannot be a file name");
  // Written whole into a partial folder, then put in place of `out`: an earlier export's files (of
  // another net, or of a failed run) never stay beside this one's.
  check_replaceable_output(out, kExportOwner);
  const std::string dir = partial_output_dir(out);
  try {
    const int n = write_export(ck, dir, data);
    publish_output(dir, out, kExportOwner);
    return n;
  } catch (...) {
    remove_tree(dir);
    throw;
  }
}

}  // namespace cvg
