#include "analysis/match/match.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "base/npy.h"
#include "kernels/init.h"
#include "kernels/rng.h"
#include "base/io.h"
#include "nn/tensor.h"

namespace cvg {

Solver parse_solver(const std::string& name) {
  if (name == "exact") return Solver::Exact;
  if (name == "auction") return Solver::Auction;
  throw InputError("unknown solver '" + name + "' (expected exact or auction)");
}

NpyMatrix load_matrix_npy(const std::string& path) {
  NpyMatrix x;
  auto file = std::make_shared<const NpyMapped>(path);
  const NpyArray& meta = file->meta();
  if (meta.shape.size() != 2)
    throw InputError(path + ": expected a 2-D matrix, got " + std::to_string(meta.shape.size()) + " dimensions");
  if (meta.shape[0] > (size_t)(1 << 28) || meta.shape[1] > (size_t)(1 << 28)) throw InputError(path + ": matrix too large");
  x.n = (int)meta.shape[0], x.m = (int)meta.shape[1];
  const size_t count = meta.numel();
  if (meta.dtype == "<f8" && file->native() && reinterpret_cast<uintptr_t>(file->data()) % alignof(double) == 0) {
    x.data = static_cast<const double*>(file->data());
    x.mapped = std::move(file);
  } else {  // any other dtype (any width of int, uint, float, bool) or layout: converted from the mapped bytes
    NpyArray a = file->copy();
    // The solvers work in double: a 64-bit integer past 2^53 would be rounded, and neighbouring
    // values made equal, so the "optimal" assignment could be wrong without a word.
    const bool is_signed = meta.dtype == "<i8";
    if (is_signed || meta.dtype == "<u8")
      for (size_t k = 0; k < count; ++k) {
        uint64_t u;
        std::memcpy(&u, a.bytes.data() + 8 * k, 8);
        const uint64_t magnitude = is_signed && (int64_t)u < 0 ? 0 - u : u;
        if (magnitude > (1ull << 53))
          throw InputError(path + ": entry (" + std::to_string(k / x.m) + ", " + std::to_string(k % x.m) + ") = " +
                           (is_signed ? std::to_string((int64_t)u) : std::to_string(u)) +
                           " is past 2^53, where double (the solvers' arithmetic) cannot hold every integer");
      }
    x.converted = a.to_double();
    x.data = x.converted.data();
  }
  // A branch-free integer pass (vectorised: all exponent bits set = Inf or NaN) first; the slow
  // search for the culprit only when there is one.
  const uint64_t exponent = 0x7ff0000000000000ull;
  uint64_t bad = 0;
  for (size_t k = 0; k < count; ++k) {
    uint64_t b;
    std::memcpy(&b, x.data + k, 8);
    bad |= (uint64_t)((b & exponent) == exponent);
  }
  if (bad)
    for (size_t k = 0; k < count; ++k)
      if (!std::isfinite(x.data[k]))
        throw InputError(path + ": entry (" + std::to_string(k / x.m) + ", " + std::to_string(k % x.m) + ") is " +
                         (std::isnan(x.data[k]) ? "NaN" : "infinite"));
  return x;
}

std::vector<double> read_matrix_npy(const std::string& path, int& n, int& m) {
  NpyMatrix x = load_matrix_npy(path);
  n = x.n, m = x.m;
  if (!x.converted.empty()) return std::move(x.converted);
  return std::vector<double>(x.data, x.data + (size_t)x.n * x.m);
}

std::vector<char> live_units(int units, const std::vector<int>& dead) {
  std::vector<char> live(units, 1);
  for (int u : dead) live[u] = 0;
  return live;
}

Assignment assign_live(const std::vector<double>& C, int n, int m, const std::vector<char>& live_rows,
                       const std::vector<char>& live_cols, Solver solver, const Device& device) {
  std::vector<int> rows, cols;
  for (int i = 0; i < n; ++i)
    if (live_rows[i]) rows.push_back(i);
  for (int j = 0; j < m; ++j)
    if (live_cols[j]) cols.push_back(j);
  if ((int)rows.size() == n && (int)cols.size() == m) return assign(C.data(), n, m, solver, false, device);
  std::vector<double> sub(rows.size() * cols.size());
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < cols.size(); ++j) sub[i * cols.size() + j] = C[(size_t)rows[i] * m + cols[j]];
  Assignment a;
  if (!rows.empty() && !cols.empty()) a = assign(sub.data(), (int)rows.size(), (int)cols.size(), solver, false, device);
  std::vector<int64_t> full(n, -1);
  for (size_t i = 0; i < a.row_to_col.size(); ++i)
    if (a.row_to_col[i] >= 0) full[rows[i]] = cols[a.row_to_col[i]];
  a.row_to_col = std::move(full);
  return a;
}

double matching_value(const double* M, int n, int m, const std::vector<int64_t>& row_to_col) {
  double s = 0;
  for (int i = 0; i < n; ++i)
    if (row_to_col[i] >= 0) s += M[(size_t)i * m + row_to_col[i]];
  return s;
}

Assignment assign(const double* M, int n, int m, Solver solver, bool minimize, const Device& device) {
  if (n < 0 || m < 0) throw std::logic_error("assign: negative matrix size");
  const size_t count = (size_t)n * m;
  double lo = count ? M[0] : 0, hi = lo;
  for (size_t k = 0; k < count; ++k) {
    double x = M[k];
    lo = x < lo ? x : lo, hi = x > hi ? x : hi;
    if (!std::isfinite(x))
      throw InputError("assign: entry (" + std::to_string(k / m) + ", " + std::to_string(k % m) + ") is not finite");
  }
  if (!std::isfinite(4 * (hi - lo))) throw InputError("assign: matrix values span too wide a range (overflow)");
  Assignment a;
  a.row_to_col.assign(n, -1);
  auto t0 = std::chrono::steady_clock::now();
  if (solver == Solver::Exact) {
    std::vector<char> work(cpu::assign_exact_workspace_bytes(n, m) + 64);
    void* w = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(work.data()) + 63) / 64 * 64);
    a.objective = cpu::assign_exact(M, n, m, minimize, a.row_to_col.data(), nullptr, nullptr, w);
    a.solver = "exact (cpu)";
  } else if (!device.is_cuda()) {
    std::vector<char> work(cpu::assign_auction_workspace_bytes(n, m) + 256);
    void* w = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(work.data()) + 255) / 256 * 256);
    a.report = cpu::assign_auction(M, n, m, minimize, a.row_to_col.data(), w);
    a.objective = a.report.objective;
    a.solver = "auction (cpu twin)";
    a.auction = true;
  } else {
#ifdef CONVERGENT_CUDA
    set_current(device);
    Array<double> dM(device, (size_t)n * m);
    Array<int64_t> dr(device, (size_t)n);
    Array<char> dw(device, cuda::assign_auction_workspace_bytes(n, m));
    dM.from_host(M, (size_t)n * m);
    a.report = cuda::assign_auction(dM.data(), n, m, minimize, dr.data(), dw.data());
    a.row_to_col = dr.to_host();
    a.objective = a.report.objective;
    a.solver = "auction (" + device.name() + ")";
    a.auction = true;
#else
    throw InputError("assign: this build has no CUDA");
#endif
  }
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return a;
}

std::vector<double> synthetic_matrix(MatrixKind kind, int n, int m, uint64_t seed) {
  std::vector<double> M((size_t)n * m);
  if (kind == MatrixKind::Uniform) {
    for (size_t k = 0; k < M.size(); ++k) M[k] = (double)(rng_bits(seed, 0xa551, k) >> 11) * 0x1p-53;
    return M;
  }
  const int r = 64, big = std::max(n, m);
  const double w = 0.5;
  std::vector<float> g((size_t)(big + m) * r);
  cpu::fill_gaussian(g.size(), g.data(), 0.0f, 1.0f, seed, 0xa552);
  // A random permutation of the rows' vectors: column j copies row perm[j] (when it exists).
  std::vector<int> perm(big);
  std::iota(perm.begin(), perm.end(), 0);
  for (int k = big - 1; k > 0; --k) std::swap(perm[k], perm[rng_bits(seed, 0xa553, k) % (uint64_t)(k + 1)]);
  std::vector<double> U((size_t)n * r), V((size_t)m * r);
  auto normalise = [&](double* x) {
    double s = 0;
    for (int k = 0; k < r; ++k) s += x[k] * x[k];
    s = 1.0 / std::sqrt(s);
    for (int k = 0; k < r; ++k) x[k] *= s;
  };
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < r; ++k) U[(size_t)i * r + k] = g[(size_t)i * r + k];
    normalise(&U[(size_t)i * r]);
  }
  for (int j = 0; j < m; ++j) {
    const float* src = &g[(size_t)perm[j] * r];
    const float* noise = &g[(size_t)(big + j) * r];
    for (int k = 0; k < r; ++k) V[(size_t)j * r + k] = w * src[k] + std::sqrt(1 - w * w) * noise[k];
    normalise(&V[(size_t)j * r]);
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, r, 1.0, U.data(), r, V.data(), r, 0.0, M.data(), m);
  return M;
}

}  // namespace cvg
