// Maximum- (or minimum-) weight bipartite matching on a dense n x m matrix M (row-major, row i at
// M + i*m). min(n, m) pairs are matched; rows left over (n > m) map to -1.
//
// Two solvers:
//  * cpu::assign_exact — the exact solver: shortest augmenting paths with dual potentials
//    (Jonker-Volgenant: column reduction, reduction transfer, augmenting row reduction, then
//    Dijkstra augmentations), in double. It also returns the dual potentials u (rows) and v (columns),
//    which certify optimality independently of the solver (see below).
//  * assign_auction (cuda:: on device pointers, cpu:: its CPU twin running the very same rounds) —
//    Bertsekas' auction with Jacobi (all-at-once) bidding and epsilon scaling on integer benefits.
//
// Auction details.
//  The problem is padded to N x N, N = max(n, m), with benefit 0 outside the real matrix (a constant
//  per padded row/column, so it does not change which real pairs are optimal). Real entries are
//  quantised: level = round((s*M - lo) / q) in [0, K], s = +1 (maximise) or -1 (minimise),
//  lo = min of s*M, q = (max - min) / K; benefit = level * (N + 1). K = min(2^30,
//  2^(60 - idx_bits) / (N + 1)) where idx_bits = bits of N - 1: prices then stay below 2^(63 - idx_bits)
//  (normalised to min 0 each phase, they stay within 3 benefit ranges + 3 eps) and fit beside the
//  bidder index in one 64-bit word that atomicMax resolves: higher price wins, ties -> higher index.
//  Epsilon starts at 1/1024 of the benefit range and falls by 16 per phase down to 1. A phase keeps the pairs that still satisfy the new
//  epsilon-complementary slackness (eps-CS) and re-auctions the rest. With eps = 1 and benefits that
//  are multiples of N + 1, a complete matching in eps-CS is exactly optimal for the quantised benefits.
//  A final pass checks that certificate (a permutation, and every bidder within eps of its best
//  value) and reports it. Since |s*M - (lo + q*level)| <= q/2 per entry, the matching's real objective
//  is within error_bound = min(n, m) * q of the real-valued optimum.
//  Ties between equally good objects are broken by a hash of (bidder, object), the same on both
//  twins, so identical bidders spread out instead of all bidding for the lowest index; the CPU twin and
//  the GPU therefore produce the same matching, bit for bit.
//
// Certificate of the exact solver (in the problem's own sense, original orientation):
//   maximise: u_i + v_j >= M_ij for all i, j; equality on matched pairs; on the larger side the
//             potentials are >= 0 and are 0 where unmatched. minimise: <= and <= 0 instead.
//   Then sum(u) + sum(v) equals the objective and bounds every matching: the matching is optimal.
//
// Inputs must be finite (the callers check). No allocation: the caller provides a workspace of the
// reported size (host memory for cpu::, device memory for cuda::, alignment 16 bytes).
#pragma once
#include "kernels/common.h"

namespace cvg {

struct AuctionReport {
  double objective = 0;    // sum of M over the matched real pairs, in the problem's sense
  double quantum = 0;      // q: the real value of one benefit level
  double error_bound = 0;  // min(n, m) * q: |objective - real optimum| <= error_bound
  int64_t levels = 0;      // K
  int phases = 0;
  int64_t rounds = 0;      // bidding rounds over all phases
  int64_t violations = 0;  // bidders failing the final check (0 when certified)
  bool certified = false;  // complete matching in 1-CS: optimal for the quantised problem
};

#define CVG_ASSIGN_AUCTION_API                                                             \
  size_t assign_auction_workspace_bytes(int n, int m);                                    \
  /* row_to_col: n entries. cuda::: M, row_to_col and work are device pointers; the call  \
     synchronises and returns the report on the host. */                                   \
  AuctionReport assign_auction(const double* M, int n, int m, bool minimize, int64_t* row_to_col, void* work);

namespace cpu {
CVG_ASSIGN_AUCTION_API

size_t assign_exact_workspace_bytes(int n, int m);
// Returns the objective (sum of matched M). row_to_col: n entries; u: n and v: m potentials, may be
// null. Runs in O(min(n,m)^2 max(n,m)) worst case, far less on typical matrices.
double assign_exact(const double* M, int n, int m, bool minimize, int64_t* row_to_col, double* u, double* v,
                    void* work);
}  // namespace cpu

namespace cuda {
CVG_ASSIGN_AUCTION_API
}
#undef CVG_ASSIGN_AUCTION_API

}  // namespace cvg
