// Run and data arguments shared by bin/permute and bin/stitch.
#pragma once
#include <string>

#include "analysis/match/stitch.h"
#include "data/dataset.h"
#include "nn/run.h"

namespace cvg {

// The split a checkpoint's net is evaluated on (nn/run.h's open_run_data), its first max_images
// samples (all when < 0).
inline std::unique_ptr<Dataset> open_eval_data(const Checkpoint& ck, const std::string& spec, const std::string& split,
                                               const std::string& data_dir, long long max_images) {
  return first_samples(open_run_data(ck, spec, split, data_dir), max_images);
}

}  // namespace cvg
