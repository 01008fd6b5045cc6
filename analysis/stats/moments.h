// Streamed activation statistics of one layer for several nets, in float64 on the host, and what
// they give: means, standard deviations, within-net and between-net correlation matrices.
//
// The device side is MomentAccumulator: it owns the float64 accumulators on a Device and feeds each
// batch's activations to the kernels of kernels/stats.h; only per-unit sums come back to the host
// (to recentre) until moments(). Mutual information: analysis/stats/mutual_info.h; top-k:
// analysis/stats/topk.h.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/tensor.h"

namespace cvg {

// Sums over N samples of the values shifted by a per-unit reference r (see kernels/stats.h):
//   sum[net][u] = sum (x_u - r_u),   gram[net][u*c + v] = sum (x_u - r_u)(x_v - r_v),
//   cross[pair][i*c_q + j] = sum (a_i - r_i)(b_j - r_j) for nets p < q, pair = pair_index(p, q).
struct Moments {
  std::vector<int> units;                  // per net
  double count = 0;                        // samples seen (the same for every net)
  std::vector<std::vector<double>> shift;  // per net [c]
  std::vector<std::vector<double>> sum;    // per net [c]
  std::vector<std::vector<double>> gram;   // per net [c*c]
  std::vector<std::vector<double>> cross;  // per pair [c_p*c_q], pairs (0,1),(0,2)..(0,K-1),(1,2)..

  Moments() = default;
  explicit Moments(std::vector<int> units_per_net);
  int nets() const { return (int)units.size(); }
  int pair_index(int p, int q) const;  // p < q
  // Re-expresses the sums around a new reference (exact algebra in float64; results unchanged).
  void recenter(int net, const std::vector<double>& new_shift);
  // Adds another set of moments over other samples (same units); it may use other references.
  void merge(const Moments& other);
};

struct LayerStats {
  std::vector<std::vector<double>> mean, std;  // per net [c]; std with divisor N (population)
  std::vector<std::vector<double>> within;     // per net [c*c]: exactly symmetric, diagonal 1
  std::vector<std::vector<double>> between;    // per pair [c_p*c_q]
  // Per net, the units whose variance is zero or lost in float32 rounding (var <= kZeroVarRel of
  // their mean square about the reference). Their correlations are 0 (their diagonal too), never NaN.
  std::vector<std::vector<int>> zero_variance;
};
constexpr double kZeroVarRel = 1e-4;

LayerStats finalize(const Moments& m);

// The reference subtracted from a unit's values before the float32 products, from its mean and
// mean square (about 0). The mean removes cancellation when mean >> std. But with r = mean a ReLU
// unit's exact zeros all become the same term -r, and adding one constant again and again to a
// float32 sum rounds the same way every time: a bias measured up to ~3e-6 in the correlation at
// 50-90% zeros. r = 0 keeps those terms exactly 0, at the price of a cancellation factor
// E[x^2]/var, which costs < 2e-7 while it is <= kZeroShiftMaxCancellation (measured). So: 0 when
// E[x^2] <= 16 var, else the mean (a constant unit gets its value: its differences are all 0).
constexpr double kZeroShiftMaxCancellation = 16;
float choose_shift(double mean, double mean_square);

// Blocks of images for the bootstrap: runs of kBlockRun consecutive images are dealt to the blocks
// in turn, so image i is in block (i / kBlockRun) % blocks. Every block spans the whole dataset
// (exchangeable blocks even when the data are sorted, say by class), and a batch splits into runs
// that are contiguous in memory, which the moment kernels take as they are.
constexpr int kBlockRun = 16;
inline int block_of_image(long image, int blocks) { return (int)((image / kBlockRun) % blocks); }

// Accumulates Moments on a device: per batch, per net its sums and Gram, per pair of nets the
// cross-products. The references come from the first batch (choose_shift); at batches 2, 4, 8, ...
// they are chosen again from the running moments (recentring), so float32 terms stay O(std) even
// when the data drift. With `blocks` > 0 the sums are kept per block of images (block_of_image), on
// the device, all about the same references: blocks times the memory, the same arithmetic.
class MomentAccumulator {
 public:
  MomentAccumulator(const Device& dev, std::vector<int> units_per_net, int blocks = 0);
  // acts[net] on the accumulator's device, NCHW [n, units[net], hw] (fc: hw = 1); the images are
  // image0 .. image0 + n - 1 (which picks their blocks).
  void add_batch(const std::vector<const float*>& acts, int n, int hw, long image0 = 0);
  Moments moments() const;  // copies the accumulators to the host (with blocks: their sum)
  // Sharded over MPI ranks (base/dist.h): each rank calls add_batch for its own batches and
  // skip_batch(n, hw) for every other rank's, all in the global batch order, with batch 0 on rank 0.
  // The references follow the global sequence (rank 0 sends the first batch's, recentring sums the
  // running moments over the ranks), so every batch gets the float32 terms one process would give
  // it. reduce_to_root() then adds every rank's accumulators into rank 0's, in rank order. Without
  // MPI (one rank) skip_batch only counts and reduce_to_root does nothing.
  void skip_batch(int n, int hw);
  void reduce_to_root();
  // Per block, its moments (all with the same shift); empty without blocks.
  std::vector<Moments> block_moments() const;
  const Device& device() const { return dev_; }
  // Device bytes of the accumulators of `blocks` blocks (0: one set) for these units.
  static size_t bytes(const std::vector<int>& units_per_net, int blocks);

 private:
  struct Slot {  // the sums of one block (or of everything, without blocks)
    double count = 0;
    std::vector<Array<double>> sum, sum_sq, gram, cross;
  };
  void add_run(Slot& s, const std::vector<const float*>& acts, int n, int hw);
  void recenter();
  void share_references();  // rank 0's first references to every rank
  void count_batch(int n, int hw);
  Moments slot_moments(const Slot& s) const;
  Device dev_;
  std::vector<int> units_;
  int blocks_ = 0;
  double count_ = 0;
  long batches_ = 0;
  std::vector<std::vector<float>> shift_host_;
  std::vector<Array<float>> shift_;
  std::vector<Slot> slots_;
  std::vector<Array<double>> delta_;
  Array<char> scratch_;
};

}  // namespace cvg
