// Writes a checkpoint's parameters as .npy files named after their layer, so numpy and PyTorch
// users can load our nets: DIR/conv1.weight.npy [96, 3, 11, 11] (OIHW), DIR/conv1.bias.npy [96],
// DIR/fc6.weight.npy [4096, 9216] ([out, in], PyTorch's Linear layout), ... and DIR/config.json with
// everything else a reimplementation needs: the net config, the input preprocessing, the pooling
// rounding and the LRN convention (docs/OUTPUTS.md; python/convergent.py loads it into PyTorch).
#pragma once
#include <string>

#include "data/dataset.h"
#include "nn/checkpoint.h"

namespace cvg {

// Writes DIR/<parameter>.npy for every parameter and DIR/config.json, replacing DIR as a whole (a
// folder that is not empty must be an earlier export); returns how many parameters.
// `data`: the dataset the net was trained on, for its normalisation constants (null: unknown, the
// config says so).
int export_checkpoint_npy(const Checkpoint& ck, const std::string& dir, const Dataset* data);

}  // namespace cvg
