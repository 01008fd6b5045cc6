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
//  Persons bid for objects; the persons are the smaller side (P = min(n, m), M's columns when n > m),
//  the objects the larger (Q). Entries are quantised: level = round((s*M - lo) / q) in [0, K],
//  s = +1 (maximise) or -1 (minimise), lo = min of s*M, q = (max - min) / K; benefit = level * (P + 1).
//  K = min(2^30, 2^(60 - idx_bits) / (P + 1)), idx_bits = bits of Q - 1: prices (normalised to
//  minimum 0 each phase) stay within a few benefit ranges, below 2^(63 - idx_bits), so a price and a
//  person's index fit in one 64-bit word that atomicMax resolves (higher price wins, ties -> higher
//  index). Epsilon starts at 1/1024 of the benefit range and falls by 16 per phase down to 1.
//  Each phase: keep the pairs that satisfy epsilon-complementary slackness (eps-CS) at the new eps;
//  forward auction (Jacobi rounds: every unassigned person bids for its best object at once) until all
//  persons hold an object; then, when P < Q, a reverse auction (Bertsekas' forward/reverse method for
//  asymmetric problems): lambda = least price of a held object, and every unheld object priced above
//  lambda offers itself to its best person at the lowest price keeping eps-CS (persons take the offer
//  leaving them the most profit), or settles at lambda. At eps = 1 the result is a matching in 1-CS
//  with no unheld object priced above a held one; since benefits are multiples of P + 1 > P * eps, it
//  is exactly optimal for the quantised benefits. A final pass on the device checks exactly that
//  certificate and reports it. As |s*M - (lo + q*level)| <= q/2 per entry, the matching's real
//  objective is within error_bound = min(n, m) * q of the real-valued optimum.
//  Ties between equally good choices are broken by a hash of (person, object), the same on both twins,
//  so identical persons spread out instead of all bidding for the lowest index; with integer steps and
//  order-independent rounds, the CPU twin and the GPU produce the same matching, bit for bit.
//  GPU execution: Q <= 1024 runs entirely in one thread block (no host round trips); larger problems
//  run a grid of blocks per step while many persons bid, and hand the tail of each stage to one block.

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

#define CVG_ASSIGN_AUCTION_API                                                           \
  size_t assign_auction_workspace_bytes(int n, int m);                                   \
  /* row_to_col: n entries. cuda::: M, row_to_col and work are device pointers; the call \
     synchronises and returns the report on the host. */                                 \
  AuctionReport assign_auction(const double* M, int n, int m, bool minimize, int64_t* row_to_col, void* work);

namespace cpu {
CVG_ASSIGN_AUCTION_API

size_t assign_exact_workspace_bytes(int n, int m);
// Returns the objective (sum of matched M). row_to_col: n entries; u: n and v: m potentials, may be
// null. Runs in O(min(n,m)^2 max(n,m)) worst case, far less on typical matrices.
double assign_exact(const double* M, int n, int m, bool minimize, int64_t* row_to_col, double* u, double* v, void* work);
}  // namespace cpu

namespace cuda {
CVG_ASSIGN_AUCTION_API
}
#undef CVG_ASSIGN_AUCTION_API

}  // namespace cvg
