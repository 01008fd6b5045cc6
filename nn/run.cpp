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
