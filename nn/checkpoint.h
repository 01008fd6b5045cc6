// Checkpoints: one self-contained file per snapshot holding the net's config, every parameter and
// its momentum, the iteration, the seed and the data position; written atomically and checked by
// CRC-32. The RNG is counter-based, so (seed, iteration) is its whole state.
//
// Layout (little-endian), version 1:
//   8 bytes  magic "CVGCKPT1"
//   u32      format version (1)
//   u64      header length H
//   H bytes  header, UTF-8 JSON: {"format": 1, "net": name, "config": <net config JSON text>,
//            "input": [c,h,w], "classes": N, "seed": S, "iteration": I,
//            "data": {"spec", "epoch", "index", "order_seed"}, "solver": {"batch", "base_lr", "lr_policy",
//            "gamma", "stepsize", "momentum", "weight_decay"} (optional), "params": [{"name", "shape", "offset"}], ...}
//            offset = float index into the payload of the parameter's values; its momentum follows them.
//   payload  float32 values then momentum of each parameter, in "params" order
//   u32      CRC-32 (zlib) of every byte before it
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/io.h"
#include "nn/net.h"

namespace cvg {

struct CheckpointInfo {
  uint64_t seed = 0;
  long long iteration = 0;
  std::string data_spec;
  long long data_epoch = 0, data_index = 0;
  uint64_t order_seed = 0;
  // The batch and lr schedule the run trains with (header key "solver"; max_iter not kept): --resume
  // goes on with them. Absent in checkpoints written before it was kept.
  std::optional<SolverConfig> solver;
  nlohmann::json extra = nlohmann::json::object();  // anything else a tool wants kept (e.g. metrics)
};

// Refuses (NonFiniteError, nothing written) when any parameter or momentum holds NaN/Inf: a
// checkpoint is a promise that the weights are usable.
void save_checkpoint(const std::string& path, Net& net, const CheckpointInfo& info);

// A checkpoint read and verified (magic, version, sizes, CRC); throws InputError("<file>: <what>").
struct Checkpoint {
  std::string path;
  nlohmann::json header;
  CheckpointInfo info;
  NetConfig config;
  std::vector<int> input;
  int classes = 0;
  std::vector<float> payload;
  // Builds the net it describes on `dev` and loads weights and momenta into it.
  std::unique_ptr<Net> make_net(const Device& dev, int max_batch) const;
  // Loads into an existing net; names and shapes must match.
  void load_into(Net& net) const;
  // Each parameter's values: name, shape, data (for export).
  struct View {
    std::string name;
    std::vector<int> shape;
    const float* values;
  };
  std::vector<View> params() const;
};
Checkpoint read_checkpoint(const std::string& path);

// Checkpoint names have 9 digits of iteration (ckpt-000012000.bin): runs stop there.
constexpr long long kMaxIteration = 999999999;
// Checkpoints in a run folder (ckpt-<iteration>.bin), newest first.
std::vector<std::string> list_checkpoints(const std::string& dir);
// The newest checkpoint of a run folder that reads back intact; damaged ones are reported on
// stderr and skipped. False when the folder has none. When it has some but none reads back, throws
// InputError saying so (resuming from 0 would overwrite them) unless skip_all_damaged; a newer
// format version always throws NewerFormatError.
bool read_newest_checkpoint(const std::string& dir, Checkpoint* out, bool skip_all_damaged = false);
// Removes ckpt-*.tmp.* files that a killed run left in `dir` (call with the folder locked); returns how many.
int remove_stale_temporaries(const std::string& dir);
std::string checkpoint_name(long long iteration);

}  // namespace cvg
