// One-to-one matching of units between two nets: a maximum- (or minimum-) weight assignment on a
// dense matrix, by the exact CPU solver or by the auction (on the GPU when there is one, else on its
// CPU twin). The matrix is row-major n x m on the host; min(n, m) pairs are matched.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/assign.h"
#include "nn/device.h"

namespace cvg {

enum class Solver { Exact, Auction };

struct Assignment {
  std::vector<int64_t> row_to_col;  // n entries, -1 for rows left unmatched (n > m)
  double objective = 0;             // sum of M over the matched pairs
  double seconds = 0;               // wall time of the solve (with transfers to and from the GPU)
  std::string solver;               // "exact (cpu)", "auction (cuda:0 ...)", "auction (cpu twin)"
  bool auction = false;
  AuctionReport report;  // auction only: quantisation step, error bound, certificate
};

// Solver from its name ("exact" | "auction"); throws InputError otherwise.
Solver parse_solver(const std::string& name);

// `device` picks where the auction runs (a CUDA device, or the CPU for its twin); the exact solver
// always runs on the CPU. Throws InputError if an entry is NaN or infinite, or if the
// values span more than ~1e307 (the potentials would overflow).
Assignment assign(const double* M, int n, int m, Solver solver, bool minimize, const Device& device);

// Units marked live (1) or dead (0) from the list of dead ones.
std::vector<char> live_units(int units, const std::vector<int>& dead);

// The maximum-weight one-to-one matching of the live rows and live columns of C (row-major n x m);
// dead and unmatched rows get -1, and the objective is the sum over the matched pairs.
Assignment assign_live(const std::vector<double>& C, int n, int m, const std::vector<char>& live_rows,
                       const std::vector<char>& live_cols, Solver solver, const Device& device);

class NpyMapped;

// A 2-D matrix from a .npy file: a float64 file is mapped in place (no copy), any other float,
// integer or bool dtype is converted into `converted`. data points at the row-major n x m values.
struct NpyMatrix {
  int n = 0, m = 0;
  const double* data = nullptr;
  std::vector<double> converted;
  std::shared_ptr<const NpyMapped> mapped;
};
// Throws InputError as read_matrix_npy does.
NpyMatrix load_matrix_npy(const std::string& path);

// Reads a 2-D .npy matrix of any float, integer or bool dtype as doubles (row-major n x m). Throws
// InputError "<path>: <what>" for an unreadable or corrupt file, another dtype or rank, or a NaN/Inf entry.
std::vector<double> read_matrix_npy(const std::string& path, int& n, int& m);

// The sum of M over a matching (row_to_col as above).
double matching_value(const double* M, int n, int m, const std::vector<int64_t>& row_to_col);

// Synthetic test and benchmark matrices, deterministic in (n, m, seed):
//  Uniform     — independent uniform [0, 1) entries: the hard case for shortest-path solvers.
//  Correlation — like correlations between two nets' units: cosine similarities of 64-dimensional
//                unit vectors, each column a noisy copy (weight 0.5) of a random row's vector.
enum class MatrixKind { Uniform, Correlation };
std::vector<double> synthetic_matrix(MatrixKind kind, int n, int m, uint64_t seed);

}  // namespace cvg
