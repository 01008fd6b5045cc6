// Weight import: nets trained elsewhere become regular checkpoints. Two sources:
//   a folder of .npy files named as `bin/train --export-npy` writes them (DIR/conv1.weight.npy, ...), float32;
//   a .safetensors file (u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw
//   tensors), dtypes F32, F16 and BF16 (converted to float32 exactly: every f16/bf16 is a float32).
// A name map (JSON object {"features.0.weight": "conv1.weight", ...}) renames PyTorch-style names.
// Every problem throws InputError naming the file and the tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "nn/net.h"

namespace cvg {

struct NamedTensor {
  std::string name;
  std::vector<int> shape;
  std::vector<float> values;
};

// Parses a whole .safetensors file held in memory; a pure function of the bytes (the fuzz target
// calls it). Throws InputError("<what is wrong>") without a file name; the tensors in file order.
std::vector<NamedTensor> parse_safetensors(const uint8_t* data, size_t size);
// The same from a file; errors read "<file>: <what>".
std::vector<NamedTensor> read_safetensors(const std::string& path);
// Every *.npy file of a folder, named after the file without ".npy", sorted by name.
std::vector<NamedTensor> read_npy_folder(const std::string& dir);
// A .safetensors file or a folder of .npy files, whichever `path` is.
std::vector<NamedTensor> read_weights(const std::string& path);

// {"their name": "our name", ...}; throws InputError for anything else.
std::map<std::string, std::string> read_name_map(const std::string& path);
// Renames tensors through the map; a name the map lacks keeps its name. Two tensors that end up
// with the same name are an error.
void rename_tensors(std::vector<NamedTensor>& tensors, const std::map<std::string, std::string>& map, const std::string& origin);

// The number of classes the tensors imply: dim 0 of the weight of an fc layer whose num_output is
// "classes"; -1 when the config has no such layer or the tensors lack its weight.
int classes_from_tensors(const NetConfig& cfg, const std::vector<NamedTensor>& tensors);

// Loads the tensors into the net's parameters (momenta zeroed). Each parameter must appear exactly
// once with its exact shape: a missing parameter, an extra tensor or a wrong shape throws
// InputError("<origin>: ...") naming the tensor (and for shapes the layer, expected and found).
void load_tensors(Net& net, const std::vector<NamedTensor>& tensors, const std::string& origin);

// Writes a new run folder holding one checkpoint of `net`: built in a temporary sibling folder and
// renamed into place, so a reader sees all of it or nothing. Refuses a folder that exists and is
// not empty (InputError). `also`, when given, writes more files into the temporary folder first.
std::string write_run_folder(const std::string& dir, Net& net, const CheckpointInfo& info,
                             const std::function<void(const std::string& folder)>& also = nullptr);

// "[96, 3, 11, 11]"
std::string shape_string(const std::vector<int>& shape);

}  // namespace cvg
