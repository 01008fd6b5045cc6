// Writes a checkpoint's parameters as .npy files named after their layer, so numpy and PyTorch
// users can load our nets: DIR/conv1.weight.npy [96, 3, 11, 11] (OIHW), DIR/conv1.bias.npy [96],
// DIR/fc6.weight.npy [4096, 9216] ([out, in], PyTorch's Linear layout), ...
#pragma once
#include <string>

#include "analysis/npy.h"
#include "nn/checkpoint.h"
#include "nn/io.h"

namespace cvg {

inline int export_checkpoint_npy(const Checkpoint& ck, const std::string& dir) {
  make_dirs(dir);
  int n = 0;
  for (const Checkpoint::View& v : ck.params()) {
    check_path_component(v.name, "parameter name", ck.path);
    write_npy(dir + "/" + v.name + ".npy", v.values, std::vector<size_t>(v.shape.begin(), v.shape.end()));
    ++n;
  }
  return n;
}

}  // namespace cvg
