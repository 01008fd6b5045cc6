// bin/correlate's output folder as one unit: which nets it holds (in order), which layers, and the
// rule every reader follows. This module is the only code that writes or names its files; readers
// go through the functions below. The layout (docs/OUTPUTS.md describes each file), nets k, p < q
// numbered as in summary.json's "nets", units from 0:
//   summary.json                     format, version, nets, layers and their per-pair summaries
//   <layer>/mean_<k>.npy, std_<k>.npy       f8 [c_k]
//   <layer>/within_<k>.npy                  f8 [c_k, c_k] correlations within net k
//   <layer>/between_<p>_<q>.npy             f8 [c_p, c_q] correlations, rows net p
//   <layer>/bipartite_<p>_<q>.npy           i8 [c_p] net q's unit matched to each of net p's (-1: none)
//   <layer>/semi_<p>_<q>.npy, semi_<q>_<p>.npy   i8 best partner in the other net, both ways
//   <layer>/mi_<p>_<q>.npy, mi_bipartite_<p>_<q>.npy   MI layers only: nats, the matching by MI
//   <layer>/moments/                        raw moments (analysis/stats/moments_io.h)
//
// Writing is all or nothing: the tool writes into OUT.partial-<pid> and publish_output() swaps it
// into place at the end, so a failed or interrupted run leaves the previous complete output (or
// nothing) under OUT, never a mix. Readers open the folder with open_correlate_output(), which
// refuses a folder without a complete summary.json, one whose layers lack files, or one whose
// stored sample counts disagree with summary.json; and they pick a pair's matrices by the nets'
// identities (the checkpoint's weights), transposing when the order is reversed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/stats/correlate.h"
#include "nn/checkpoint.h"

namespace cvg {

inline constexpr const char* kCorrelateFormat = "convergent-correlate";
inline constexpr int kCorrelateVersion = 2;

// One net as the output records it. `name` is what the terminal, JSON and figures call it: the run
// folder's name (for a checkpoint file: "<folder>/<file stem>"), made unique with "#<index>".
struct NetRecord {
  int index = 0;  // 0-based: the k in file names such as between_<p>_<q>.npy
  std::string name;
  std::string run;         // as the user gave it
  std::string checkpoint;  // the checkpoint file read
  uint64_t seed = 0;
  long long iteration = 0;
  std::string weights_crc32;  // CRC-32 of the checkpoint's parameters: which weights these are
  std::string config;         // the net config's name
};

// The record of `ck`, given on the command line as `run`.
NetRecord net_record(const Checkpoint& ck, const std::string& run, int index);
// Unique display names for the records (a repeated name gets "#<index>").
void make_names_unique(std::vector<NetRecord>& nets);
nlohmann::json to_json(const NetRecord& r);
// "0 = seed1 (runs/seed1/ckpt-00000938.bin, seed 1, iteration 938)"
std::string describe(const NetRecord& r);

// bin/correlate's outputs (summary.json of format convergent-correlate, or of version 1), for
// base/io.h's check_replaceable_output and publish_output.
extern const OutputOwner kCorrelateOwner;

// Writes the whole output of `results` for `nets` into a partial folder, summary.json last, and
// publishes it as OUT; on any failure the partial folder is removed and OUT is left as it was.
// `meta` (data, images, device, ...) is merged into summary.json. Layer names must be one plain path
// component (InputError otherwise).
void write_correlate_output(const std::string& out, const std::vector<NetRecord>& nets, const std::vector<LayerResult>& results,
                            const nlohmann::json& meta);

struct CorrelateOutput {
  std::string dir;
  nlohmann::json summary;
  std::vector<NetRecord> nets;
  std::vector<std::string> layers;

  // The summary's entry of `layer`; InputError listing the layers there when it is not.
  const nlohmann::json& layer(const std::string& name) const;
  // The index of the net whose weights are `ck` (given as `run`); InputError naming the nets the
  // output holds when it is not among them.
  int find_net(const Checkpoint& ck, const std::string& run) const;
  std::string nets_list() const;  // "0 = ..., 1 = ..."
};

// Opens and checks DIR (see the top of this file). InputError names what is wrong.
CorrelateOutput open_correlate_output(const std::string& dir);
// The two halves of open_correlate_output, for readers that show what is there and say what is
// missing (bin/report): summary.json alone (nets, layer names), then one layer's files.
CorrelateOutput read_correlate_summary(const std::string& dir);
void check_correlate_layer(const CorrelateOutput& o, const std::string& layer);

// The [rows, cols] matrices stored per pair of nets.
enum class PairMatrix { Between, MutualInfo };  // between_<p>_<q>.npy, mi_<p>_<q>.npy

// Reads matrix `which` of the pair (p, q) of nets, p != q, transposed when p > q, so rows are always
// net p's units.
std::vector<double> read_pair_matrix(const CorrelateOutput& o, const std::string& layer, PairMatrix which, int p, int q, int rows,
                                     int cols);
// The one-to-one matchings stored per pair: by correlation (bipartite_<p>_<q>.npy) or by mutual
// information (mi_bipartite_<p>_<q>.npy, MI layers only).
enum class PairAssignment { Bipartite, MutualInfo };
// The assignment from net p's units to net q's (-1: unmatched), from <layer>/bipartite_<min>_<max>.npy
// (or mi_bipartite_...), inverted when p > q.
std::vector<int64_t> read_pair_assignment(const CorrelateOutput& o, const std::string& layer, int p, int q, int rows, int cols,
                                          PairAssignment which = PairAssignment::Bipartite);
// The raw moments of `layer` (<layer>/moments/), for analyses that need no pass over the data.
Moments read_layer_moments(const CorrelateOutput& o, const std::string& layer);
// The layer's block moments (moments/blocks/, bin/correlate --blocks), checked against `total`; empty
// when the run stored none.
std::vector<Moments> read_layer_block_moments(const CorrelateOutput& o, const std::string& layer, const Moments& total);

}  // namespace cvg
