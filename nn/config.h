// Net configs (data/nets/*.json): a sequential list of layers in Caffe's vocabulary, plus solver
// defaults. Parsing validates every field; an error names the file, the layer and the problem.
#pragma once
#include <string>
#include <vector>

namespace cvg {

// One layer's settings. Each kind (nn/layers.cpp) reads the fields it uses; the rest keep their
// defaults. A new kind with a hyper-parameter no kind has yet adds its field here.
struct LayerConfig {
  std::string name, type;  // type: a layer kind of nn/layers.cpp (conv, relu, maxpool, lrn, fc, dropout, softmax_loss)
  // conv / fc
  int num_output = 0;  // fc: -1 means "the dataset's number of classes"
  int kernel_size = 1, stride = 1, pad = 0, group = 1;
  float weight_std = 0.01f;  // < 0: He/MSRA, std = sqrt(2 / fan_in)
  float bias = 0.0f;
  float lr_mult[2] = {1, 2}, decay_mult[2] = {1, 0};  // weights, bias (Caffe's convention)
  // lrn
  int local_size = 5;
  float alpha = 1e-4f, beta = 0.75f, k = 1.0f;
  // dropout
  float ratio = 0.5f;
  // Whether the layer has units the paper compares (conv, fc: weights and bias); asks its kind.
  bool has_params() const;
};

struct SolverConfig {
  float base_lr = 0.01f, gamma = 0.1f, momentum = 0.9f, weight_decay = 5e-4f;
  std::string lr_policy = "step";  // step: lr = base_lr * gamma^floor(iter / stepsize); fixed
  long long stepsize = 100000, max_iter = 450000;
  int batch = 256;
  float lr_at(long long iter) const;
  // The step of a run of `iters` iterations: stepsize stretched by iters / max_iter, i.e. the config's
  // schedule at the run's length (stepsize itself for a run of max_iter), at least 1. The shipped small
  // nets step at 80% of any run; CaffeNet's recipe four times, at 22%, 44%, 67% and 89%.
  long long stepsize_for(long long iters) const;
  // The first field out of range ("'momentum' must be in [0, 1), got 1"), or empty.
  std::string range_problem() const;
};

struct NetConfig {
  std::string name, about, path;
  std::vector<int> input;  // default [c, h, w]; a dataset's shape overrides it
  std::vector<LayerConfig> layers;
  SolverConfig solver;
  std::string json;  // the file's text, stored in checkpoints
};

// Throws InputError("<file>: layer <name>: <problem>").
NetConfig load_net_config(const std::string& path);
NetConfig parse_net_config(const std::string& json_text, const std::string& origin);

}  // namespace cvg
