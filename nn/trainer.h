// The training loop shared by bin/train and the tests: SGD over a dataset with evaluation,
// atomic checkpoints, exact resume, and a stop on a NaN or exploding loss.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/checkpoint.h"
#include "nn/net.h"

namespace cvg {

struct TrainOptions {
  std::string run_dir;      // checkpoints ckpt-*.bin and log.jsonl go here; locked while training
  std::string data_spec;    // recorded in checkpoints
  uint64_t seed = 1;        // the net's seed: initialisation and dropout
  uint64_t order_seed = 0;  // data order and augmentation: the same for every net by default
  SolverConfig solver;      // lr schedule, momentum, decay, batch, max_iter (= iterations to run)
  // On resume the checkpoint's data, data seed and batch must be these, and its schedule (base_lr,
  // policy, gamma, stepsize, momentum, decay) goes on, but for the parts given here (command-line flags).
  struct Given {
    bool base_lr = false, stepsize = false, momentum = false, weight_decay = false;
  } given;
  long long snapshot = 0;   // checkpoint every this many iterations (0: at each epoch end), and at the end
  bool eval_each_epoch = true;
  bool resume = false;  // continue from the newest valid checkpoint in run_dir
  bool force = false;   // start over, deleting the folder's checkpoints and log (also when every one is damaged)
  int loader_threads = 2;
  std::string label;          // progress-bar label
  bool quiet = false;         // no progress bar
  long long stop_at = -1;     // tests: return after this iteration as if interrupted (after its checkpoint)
  float explode_loss = 1e3f;  // a training loss above this (or NaN/Inf) stops the run
  // Polled once per step (e.g. set by a signal handler): when true, the run finishes the step,
  // writes a checkpoint and returns with TrainResult::interrupted.
  const std::atomic<bool>* stop_requested = nullptr;
  // When set, replaces the progress bar: called after every step with the iteration reached, the
  // iterations run in this call (not those resumed) and the loss and top-1 since the last report.
  std::function<void(long long iter, long long trained, double loss, double top1)> progress;
};

struct TrainResult {
  long long iterations = 0;  // the iteration reached
  long long trained = 0;     // iterations run in this call (0: resumed at or past the end)
  double train_loss = 0, train_top1 = 0;
  double test_loss = 0, test_top1 = 0, test_top5 = 0;
  double seconds = 0, images_per_s = 0;
  std::string checkpoint;    // the last one written
  bool interrupted = false;  // stopped early by stop_requested
};

// DivergedError (base/errors.h) when the loss becomes NaN/Inf or explodes. A checkpoint is written
// only from weights whose forward pass on the next batch gave a finite, sane loss, so the one the
// error names is always usable.

TrainResult train_net(const NetConfig& cfg, const Dataset& train, const Dataset* test, const Device& dev,
                      const TrainOptions& opt);

// Trains one net per entry of `runs` (each its own seed and run_dir), `jobs` of them at a time. With
// jobs > 1 (CPU only) each net trains in its own thread with its share of the OpenMP threads: on
// two cores, two 1-thread nets make ~20% more images/s than one 2-thread net, and since the CPU
// math does not depend on the thread count the weights are the same bits. One progress line covers
// them all. `done` is called, one call at a time, as each net finishes (also when interrupted).
// After an error, or when a run's stop_requested is set, the running nets stop as if interrupted
// (their checkpoints written) and no more start; the first error is rethrown at the end.
void train_nets(const NetConfig& cfg, const Dataset& train, const Dataset* test, const Device& dev,
                const std::vector<TrainOptions>& runs, int jobs,
                const std::function<void(const TrainOptions&, const TrainResult&)>& done);
// The OpenMP threads each net gets when train_nets trains `jobs` nets at a time.
int threads_per_net(int jobs);

// One pass over a dataset (evaluation mode): mean loss, top-1 and top-5 over all samples. The
// dataset's image shape must be the net's input shape (InputError otherwise). `predicted` (may be
// null) gets each sample's predicted class (the highest logit, the lowest class on a tie), in order.
Net::Metrics evaluate(Net& net, const Dataset& data, int batch, int threads = 2, std::vector<int>* predicted = nullptr);

}  // namespace cvg
