#include "nn/run.h"

#include <algorithm>
#include <filesystem>

#include "base/errors.h"

namespace cvg {

namespace {
std::string shape_str(const std::vector<int>& v) {  // "3x32x32"
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "x" : "") + std::to_string(v[i]);
  return s;
}
}  // namespace

Checkpoint open_run(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    Checkpoint ck;
    if (!read_newest_checkpoint(path, &ck))
      throw InputError(path + ": no intact checkpoint here (expected ckpt-*.bin; train with bin/train first)");
    return ck;
  }
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": no such run folder or checkpoint file");
  return read_checkpoint(path);
}

std::string run_checkpoint_at(const std::string& run, const std::string& which) {
  std::error_code ec;
  std::string dir = run;
  if (!std::filesystem::is_directory(run, ec)) {  // a checkpoint file stands for its run folder
    dir = std::filesystem::path(run).parent_path().string();
    if (dir.empty()) dir = ".";
  }
  auto have = [&] {
    std::string s;
    for (const std::string& p : list_checkpoints(dir)) {
      const std::string name = p.substr(p.size() - 18);
      s = std::to_string(std::stoll(name.substr(5, 9))) + (s.empty() ? "" : ", " + s);
    }
    return s.empty() ? std::string("none") : s;
  };
  if (which == "last") return dir;
  const bool untrained = which == "untrained";
  long long it = 0;
  if (!untrained) {
    size_t used = 0;
    try {
      it = std::stoll(which, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != which.size() || it < 0) throw InputError("'" + which + "': not an iteration (a number, 'last' or 'untrained')");
  }
  const std::string path = dir + "/" + checkpoint_name(it);
  if (!file_exists(path))
    throw InputError(dir + ": no checkpoint at iteration " + std::to_string(it) + " (it has: " + have() +
                     (untrained ? "; runs trained before the untrained net was kept have none: train again"
                                : "; bin/train --snapshot N keeps more") +
                     ")");
  return path;
}

Checkpoint open_run_at(const std::string& run, const std::string& which) {
  const std::string path = run_checkpoint_at(run, which);
  if (which == "last") return open_run(path);  // the run folder: its newest intact checkpoint
  Checkpoint ck = read_checkpoint(path);
  if (which == "untrained" && !ck.info.extra.value("untrained", false))
    throw InputError(path + ": not an untrained net (imported or written by another tool), so it cannot serve as the null model");
  return ck;
}

std::vector<std::string> comparable_layers(const std::vector<Net*>& nets, const std::vector<std::string>& wanted,
                                           const std::vector<std::string>& names) {
  if (nets.size() < 2) throw InputError("comparing nets needs at least two");
  auto name = [&](size_t k) { return k < names.size() ? names[k] : "net " + std::to_string(k); };
  const Net& ref = *nets[0];
  for (size_t k = 1; k < nets.size(); ++k)
    if (nets[k]->input_shape() != ref.input_shape())
      throw InputError(name(0) + " and " + name(k) + " take different input shapes (" + shape_str(ref.input_shape()) + " vs " +
                       shape_str(nets[k]->input_shape()) + ")");
  // The unit layers every net has, in the first net's order.
  std::vector<std::string> common;
  for (const std::string& l : ref.unit_layers()) {
    bool everywhere = true;
    for (size_t k = 1; k < nets.size(); ++k) {
      const std::vector<std::string> u = nets[k]->unit_layers();
      everywhere &= std::find(u.begin(), u.end(), l) != u.end();
    }
    if (everywhere) common.push_back(l);
  }
  std::string list;
  for (const std::string& l : common) list += (list.empty() ? "" : ", ") + l;
  for (const std::string& l : wanted)
    if (std::find(common.begin(), common.end(), l) == common.end())
      throw InputError("no conv or fc layer '" + l + "' in every net (the layers they share: " + list + ")");
  const std::vector<std::string> layers = wanted.empty() ? common : wanted;
  if (layers.empty()) throw InputError("the nets share no conv or fc layer (by name)");
  // Widths may differ (rectangular correlations); the samples (positions per image) may not.
  for (const std::string& l : layers) {
    const Tensor& t0 = ref.units(l);
    for (size_t k = 1; k < nets.size(); ++k) {
      const Tensor& t = nets[k]->units(l);
      if (t.dim(2) != t0.dim(2) || t.dim(3) != t0.dim(3))
        throw InputError("layer " + l + ": " + name(0) + " and " + name(k) + " differ in spatial size (" + t0.shape_str() +
                         " vs " + t.shape_str() + ")");
    }
  }
  return layers;
}

std::string run_data_spec(const Checkpoint& ck, const std::string& spec) {
  return !spec.empty() ? spec : !ck.info.data_spec.empty() ? ck.info.data_spec : "fashion-mnist";
}

std::unique_ptr<Dataset> open_run_data(const Checkpoint& ck, const std::string& spec, const std::string& split,
                                       const std::string& data_dir) {
  const std::string s = run_data_spec(ck, spec);
  std::unique_ptr<Dataset> data = open_dataset(s, split, data_dir);
  const ImageShape sh = data->shape();
  const std::vector<int> images = {sh.c, sh.h, sh.w};
  if (images != ck.input) throw InputError(s + ": images are " + shape_str(images) + " but the nets take " + shape_str(ck.input));
  return data;
}

}  // namespace cvg
