// The auction's building blocks, shared by the CUDA kernels (kernels/assign.cu) and their CPU twin
// (kernels/assign_auction_cpu.cpp), so both make the same bids and produce the same matching.
// Internal to the assign family: include kernels/assign.h for the API.
//
// Vocabulary: persons bid for objects. Persons are the smaller side (P = min(n, m)), objects the larger
// (Q = max(n, m)); when n > m the persons are M's columns. Levels are stored person-major (P x Q).
#pragma once
#include <cmath>

#include "kernels/common.h"
#include "kernels/rng.h"

namespace cvg::assign_core {

constexpr int kMaxLevelsLog2 = 30;  // levels fit in int32
// Epsilon starts at 1/1024 of the benefit range and falls by 16 per phase down to 1. (Tuned on the
// CPU twin's round and bid counts for n = 1024 and 4096: fewer rounds and bids than 8 and C/8.)
constexpr int64_t kEpsFactor = 16;
constexpr int64_t kEps0Fraction = 1024;
constexpr int kPartials = 1024;  // min/max partial results (one per block on the GPU)
constexpr int kSumLanes = 1024;  // fixed-order objective sum: 1024 strided partials, then a tree

// Everything the rounds need, fixed before they start.
struct Plan {
  int n = 0, m = 0;  // M's rows and columns
  int P = 0, Q = 0;  // persons (smaller side) and objects (larger side)
  bool persons_are_rows = true;
  int idx_bits = 1;          // bits of a person or object index in a packed bid
  int64_t K = 0;             // quantisation levels
  int64_t scale = 1;         // P + 1: benefit = level * scale
  double lo = 0, range = 0;  // of s*M
  bool minimize = false;
  int64_t eps0 = 1;          // first phase's epsilon
  int64_t offer_offset = 0;  // reverse offers pack profit + offset (> 0)
};

CVG_HD int bit_length(uint64_t x) {
  int b = 0;
  while (x) ++b, x >>= 1;
  return b;
}

// The plan for an n x m problem whose values s*M span [lo, hi].
inline Plan make_plan(int n, int m, bool minimize, double lo, double hi) {
  Plan p;
  p.n = n, p.m = m, p.minimize = minimize;
  p.persons_are_rows = n <= m;
  p.P = n <= m ? n : m, p.Q = n <= m ? m : n;
  p.idx_bits = bit_length((uint64_t)(p.Q > 1 ? p.Q - 1 : 1));
  p.scale = (int64_t)p.P + 1;
  // Benefit range C = K * scale <= 2^(60 - idx_bits): prices, normalised to min 0 each phase, stay
  // below 4C < 2^(63 - idx_bits), so a price fits beside an index in 64 bits.
  int64_t room = (int64_t(1) << (60 - p.idx_bits)) / p.scale;
  p.K = room < (int64_t(1) << kMaxLevelsLog2) ? room : (int64_t(1) << kMaxLevelsLog2);
  if (p.K < 1) p.K = 1;
  p.lo = lo, p.range = hi - lo;
  if (!(p.range > 0)) p.range = 0;  // all values equal: every matching is optimal
  int64_t C = p.K * p.scale;
  p.eps0 = C / kEps0Fraction > 1 && p.range > 0 ? C / kEps0Fraction : 1;  // all equal: one phase suffices
  p.offer_offset = int64_t(1) << (62 - p.idx_bits);                       // profits lie in (-4C, C]
  return p;
}

inline double quantum(const Plan& p) { return p.range > 0 ? p.range / (double)p.K : 0.0; }

// Quantised level of one real entry x of M (the sense is applied here).
CVG_HD int32_t level_of(double x, bool minimize, double lo, double range, int64_t K) {
  if (!(range > 0)) return 0;
  double t = ((minimize ? -x : x) - lo) / range * (double)K;
  double r = floor(t + 0.5);
  if (r < 0) r = 0;
  if (r > (double)K) r = (double)K;
  return (int32_t)r;
}

// Tie-break key: among equally good choices the highest key wins, so identical persons (constant
// rows, all ties) spread over the objects instead of all bidding for the same one.
CVG_HD uint32_t tie_key(uint32_t a, uint32_t b) { return (uint32_t)(mix64(((uint64_t)a << 32) | b) >> 32); }
CVG_HD uint32_t person_key(int i, int j) { return tie_key((uint32_t)i, (uint32_t)j); }
CVG_HD uint32_t object_key(int j, int i) { return tie_key(~(uint32_t)j, (uint32_t)i); }

// Best choice (by value, then key, then index: a total order) and the second-best value.
struct Top2 {
  int64_t v1, v2;
  uint32_t k1;
  int j1;
};
CVG_HD Top2 top2_empty() { return Top2{INT64_MIN, INT64_MIN, 0u, -1}; }
// Adds choice j worth v with tie key k (computed lazily by the caller only when v ties the best).
CVG_HD void top2_add(Top2& t, int64_t v, uint32_t k, int j) {
  if (v > t.v1 || (v == t.v1 && (k > t.k1 || (k == t.k1 && j > t.j1)))) {
    t.v2 = t.v1;
    t.v1 = v, t.k1 = k, t.j1 = j;
  } else if (v > t.v2) {
    t.v2 = v;
  }
}
// Merging partial results in any order gives the same (v1, k1, j1, v2) as one sequential scan.
CVG_HD void top2_merge(Top2& a, const Top2& b) {
  if (b.v1 > a.v1 || (b.v1 == a.v1 && (b.k1 > a.k1 || (b.k1 == a.k1 && b.j1 > a.j1)))) {
    a.v2 = a.v1 > b.v2 ? a.v1 : b.v2;
    a.v1 = b.v1, a.k1 = b.k1, a.j1 = b.j1;
  } else if (b.v1 > a.v2) {
    a.v2 = b.v1;
  }
}
// The key is needed only if v could be the best (v >= v1).
CVG_HD void person_scan(Top2& t, int64_t v, int i, int j) {
  if (v >= t.v1)
    top2_add(t, v, person_key(i, j), j);
  else if (v > t.v2)
    t.v2 = v;
}
CVG_HD void object_scan(Top2& t, int64_t v, int j, int i) {
  if (v >= t.v1)
    top2_add(t, v, object_key(j, i), i);
  else if (v > t.v2)
    t.v2 = v;
}

CVG_HD int64_t benefit(const int32_t* level, int Q, int64_t scale, int i, int j) {
  return (int64_t)level[(size_t)i * Q + j] * scale;
}

// Forward bid of person i (best object t.j1 over all Q at prices `price`): the price that leaves it
// indifferent within eps between its best and second-best object, packed with i (higher price wins,
// ties: higher index). 0 = the price would not fit (impossible within the plan's bounds; callers
// fail loudly rather than resolve a corrupted bid).
CVG_HD uint64_t forward_bid(const Top2& t, const int64_t* price, int64_t eps, int i, int idx_bits) {
  int64_t second = t.v2 == INT64_MIN ? t.v1 : t.v2;  // Q == 1: no second object, raise by eps
  int64_t new_price = price[t.j1] + (t.v1 - second) + eps;
  if (new_price <= 0 || (new_price >> (63 - idx_bits)) != 0) return 0;
  return ((uint64_t)new_price << idx_bits) | (uint64_t)i;
}

// Reverse offer of an unassigned object j to its best person t.j1 (values a_ij - profit_i): the
// lowest price max(lambda, second - eps) it may ask; the person's new profit is a_ij - that price.
// Packed as (profit + offset, j): a person accepts the offer that leaves it the most profit.
// Returns 0 when the object should instead settle at price lambda (lambda >= best - eps).
struct Offer {
  uint64_t packed;
  int64_t price;
};
CVG_HD Offer reverse_offer(const Top2& t, int64_t a_best, int64_t lambda, int64_t eps, int j, int idx_bits, int64_t offset) {
  if (lambda >= t.v1 - eps) return Offer{0, lambda};
  int64_t second = t.v2 == INT64_MIN ? lambda : t.v2 - eps;  // P == 1: no second person
  int64_t price = second > lambda ? second : lambda;
  int64_t profit = a_best - price, v = profit + offset;
  if (v <= 0 || (v >> (63 - idx_bits)) != 0) return Offer{~uint64_t(0), price};  // overflow marker
  return Offer{((uint64_t)v << idx_bits) | (uint64_t)j, price};
}

// Workspace layout shared by both twins. Every section starts on a 256-byte boundary.
struct Layout {
  size_t level, price, bid, owner, col_of, offer, profit, list0, list1, matched, partial, scalars, total;
};
// int32 scalars, then int64 scalars at scalars + 64 bytes.
enum Scalar32 { kCount0 = 0, kCount1, kUnassigned, kViolations, kFlag, kOverflow, kNum32 };
enum Scalar64 { kRounds = 0, kLambda, kPhases, kNum64 };
// A run that needs more rounds than this is stopped and reported as failed (a bug, never expected).
constexpr int64_t kMaxRounds = int64_t(1) << 26;

inline Layout layout(int n, int m) {
  size_t P = (size_t)(n < m ? n : m), Q = (size_t)(n < m ? m : n), off = 0;
  auto take = [&](size_t bytes) {
    size_t at = off;
    off += (bytes + 255) / 256 * 256;
    return at;
  };
  Layout L;
  L.level = take(P * Q * sizeof(int32_t));
  L.price = take(Q * sizeof(int64_t));
  L.bid = take(Q * sizeof(uint64_t));
  L.owner = take(Q * sizeof(int32_t));
  L.col_of = take(P * sizeof(int32_t));
  L.offer = take(P * sizeof(uint64_t));
  L.profit = take(P * sizeof(int64_t));
  L.list0 = take(Q * sizeof(int32_t));
  L.list1 = take(Q * sizeof(int32_t));
  L.matched = take((size_t)n * sizeof(double));
  L.partial = take(2 * kPartials * sizeof(double));
  L.scalars = take(64 + 8 * kNum64);
  L.total = off;
  return L;
}

}  // namespace cvg::assign_core
