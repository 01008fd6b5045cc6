// Data-parallel SGD over MPI ranks (base/dist.h): every rank holds the same net, runs its slice of
// each batch (forward and backward), and the slices' gradients are summed over the ranks, weighted
// by their share of the batch, so every rank applies the same update: the gradient of the whole
// batch's mean loss, as one process computes it up to float rounding. One rank: every call is a
// no-op (or the identity).
#pragma once
#include "nn/net.h"

namespace cvg {

struct BatchSlice {
  int first = 0, count = 0;  // this rank's rows of a batch of `batch`
};
// Rank r's rows: [batch * r / ranks, batch * (r + 1) / ranks).
BatchSlice rank_slice(int batch);

// After net.backward() on this rank's `count` of the batch's `batch` samples: each gradient becomes
// the sum over ranks of (count / batch) * the rank's gradient, the same bits on every rank. One
// message for all parameters, summed in double in rank order on rank 0 (base/dist.h); between GPUs
// NCCL (nn/data_parallel.cpp).
void all_reduce_gradients(Net& net, int count, int batch);

// Rank 0's parameters and momenta to every rank (after a resume on rank 0).
void broadcast_parameters(Net& net);

// The batch's metrics over every rank's slice, and whether any rank was asked to stop (a signal
// reaches one rank or all; every rank must stop at the same step).
Net::Metrics all_reduce_metrics(const Net::Metrics& mine, bool& stop);

}  // namespace cvg
