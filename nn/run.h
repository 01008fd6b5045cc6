// Runs as the tools take them on the command line, and the one set of rules for comparing the nets
// of several runs unit by unit (bin/correlate, bin/visualize, bin/stitch):
//   - the nets take the same input (C x H x W);
//   - a compared layer is a conv or fc layer of every net (by name), with the same spatial size in
//     each (the same positions: the samples of a unit); the number of units may differ.
// Tools that need more say so on top (bin/visualize: the same receptive field, so that patches
// line up; bin/stitch and bin/permute: the same widths).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/checkpoint.h"
#include "nn/net.h"

namespace cvg {

// A run folder means its newest intact checkpoint; anything else is read as a checkpoint file.
// InputError names the path when it is neither.
Checkpoint open_run(const std::string& path);

// A run's checkpoint by `which`: "last" (the newest intact one), "untrained" (iteration 0 as bin/train
// keeps it: extra.untrained must be true, which an imported net's is not) or an iteration number.
// A checkpoint file stands for its run folder. InputError names the iterations the run has.
Checkpoint open_run_at(const std::string& run, const std::string& which);
// The file open_run_at reads (for "last" the run folder, whose newest intact one is found as it is
// read), checked to exist without reading it, so that a tool can refuse a missing one before its work.
std::string run_checkpoint_at(const std::string& run, const std::string& which);

// The layers in which `nets` can be compared under the rules above: `wanted` (each checked), or by
// default every conv and fc layer all nets share, in the first net's order. InputError naming what
// differs (`names`: how to call the nets in messages; default "net <k>").
std::vector<std::string> comparable_layers(const std::vector<Net*>& nets, const std::vector<std::string>& wanted,
                                           const std::vector<std::string>& names = {});

// The dataset a run's net is evaluated on: `spec`, by default the one it was trained on (or
// fashion-mnist when the checkpoint does not say).
std::string run_data_spec(const Checkpoint& ck, const std::string& spec);
// That dataset, whole; InputError unless its images have the shape the net takes.
std::unique_ptr<Dataset> open_run_data(const Checkpoint& ck, const std::string& spec, const std::string& split,
                                       const std::string& data_dir);

}  // namespace cvg
