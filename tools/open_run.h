// Run and data arguments shared by bin/permute and bin/stitch.
#pragma once
#include <string>

#include "analysis/match/stitch.h"
#include "data/dataset.h"
#include "nn/checkpoint.h"
#include "base/io.h"

namespace cvg {

// A run folder means its newest intact checkpoint; a ckpt-*.bin file is taken as it is.
inline Checkpoint open_run_checkpoint(const std::string& path) {
  if (path.size() >= 4 && path.substr(path.size() - 4) == ".bin") return read_checkpoint(path);
  Checkpoint ck;
  if (!read_newest_checkpoint(path, &ck))
    throw InputError(path + ": no intact checkpoint here (expected ckpt-*.bin; train with bin/train first)");
  return ck;
}

// The split a checkpoint's net is evaluated on: `spec` (default: the data it was trained on), its
// first max_images samples (all when < 0); the images must have the shape the net was built for.
inline std::unique_ptr<Dataset> open_eval_data(const Checkpoint& ck, const std::string& spec, const std::string& split,
                                               const std::string& data_dir, long long max_images) {
  const std::string s = spec.empty() ? ck.info.data_spec : spec;
  std::unique_ptr<Dataset> data = first_samples(open_dataset(s, split, data_dir), max_images);
  ImageShape sh = data->shape();
  if (std::vector<int>{sh.c, sh.h, sh.w} != ck.input) throw InputError(s + ": images do not have the shape the net was trained on");
  return data;
}

}  // namespace cvg
