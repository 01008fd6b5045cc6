// CPU twin of the GPU auction (kernels/assign.cu): the same plan, phases, rounds and steps, run
// sequentially, so it produces the GPU's matching bit for bit. It is the oracle for the CUDA kernels
// and lets --solver auction run without a GPU; on a CPU the exact solver is the faster choice.
#include <algorithm>
#include <stdexcept>

#include "kernels/assign.h"
#include "kernels/assign_core.h"

namespace cvg::cpu {

using namespace cvg::assign_core;

size_t assign_auction_workspace_bytes(int n, int m) { return n <= 0 || m <= 0 ? 0 : layout(n, m).total; }

namespace {

struct Auction {
  Plan p;
  int32_t *level, *owner, *col_of, *list[2], *s32;
  int64_t *price, *profit, *s64;
  uint64_t *bid, *offer;
  uint64_t mask() const { return (uint64_t(1) << p.idx_bits) - 1; }
  int64_t a(int i, int j) const { return benefit(level, p.Q, p.scale, i, j); }
  void push(int l, int x) { list[l][s32[kCount0 + l]++] = x; }

  Top2 person_top2(int i) const {
    Top2 t = top2_empty();
    for (int j = 0; j < p.Q; ++j) person_scan(t, a(i, j) - price[j], i, j);
    return t;
  }
  Top2 object_top2(int j) const {
    Top2 t = top2_empty();
    for (int i = 0; i < p.P; ++i) object_scan(t, a(i, j) - profit[i], j, i);
    return t;
  }

  // Phase start: prices matter only relative to each other, so keep them small; empty the lists.
  void normalise() {
    int64_t pmin = *std::min_element(price, price + p.Q);
    for (int j = 0; j < p.Q; ++j) price[j] -= pmin;
    s32[kCount0] = s32[kCount1] = s32[kUnassigned] = s32[kFlag] = 0;
  }
  // Keep the pairs in eps-CS at the new eps; the other persons bid again.
  void restart(int64_t eps, int out) {
    for (int i = 0; i < p.P; ++i) {
      int j = col_of[i];
      if (j >= 0) {
        if (a(i, j) - price[j] >= person_top2(i).v1 - eps) continue;
        owner[j] = -1, col_of[i] = -1;
      }
      push(out, i);
      ++s32[kUnassigned];
    }
  }
  // Jacobi forward round: every unassigned person bids at the round's prices...
  void forward_bid(int64_t eps, int in, int out) {
    for (int k = 0; k < s32[kCount0 + in]; ++k) {
      int i = list[in][k];
      if (col_of[i] >= 0) continue;
      Top2 t = person_top2(i);
      uint64_t b = assign_core::forward_bid(t, price, eps, i, p.idx_bits);
      if (b == 0) {
        ++s32[kOverflow];
        continue;
      }
      bid[t.j1] = std::max(bid[t.j1], b);
      push(out, i);
      s32[kFlag] = 1;
    }
  }
  // ...then each object goes to its highest bid, displacing its owner.
  void forward_resolve(int in, int out) {
    for (int j = 0; j < p.Q; ++j) {
      uint64_t b = bid[j];
      if (b == 0) continue;
      bid[j] = 0;
      int w = (int)(b & mask()), o = owner[j];
      if (o >= 0)
        col_of[o] = -1, push(out, o);
      else
        --s32[kUnassigned];
      owner[j] = w, col_of[w] = j, price[j] = (int64_t)(b >> p.idx_bits);
    }
    end_round(in, true);
  }
  // A forward round without a bid while persons are unassigned would repeat forever (a bug).
  void end_round(int in, bool forward) {
    if (s32[kFlag]) {
      s32[kFlag] = 0;
      if (++s64[kRounds] > kMaxRounds) s32[kOverflow] = 1;
    } else if (forward && s32[kUnassigned] > 0) {
      s32[kOverflow] = 1;
    }
    s32[kCount0 + in] = 0;
  }
  // Reverse stage (P < Q): lambda = least price of an owned object; the profits of the persons; the
  // unowned objects priced above lambda go on the list.
  void reverse_start(int out) {
    int64_t lambda = INT64_MAX;
    for (int j = 0; j < p.Q; ++j)
      if (owner[j] >= 0) lambda = std::min(lambda, price[j]);
    s64[kLambda] = lambda;
    for (int i = 0; i < p.P; ++i) profit[i] = a(i, col_of[i]) - price[col_of[i]];
    s32[kCount0] = s32[kCount1] = s32[kFlag] = 0;
    for (int j = 0; j < p.Q; ++j)
      if (owner[j] < 0 && price[j] > lambda) push(out, j);
  }
  // Jacobi reverse round: each such object offers itself to its best person at the lowest price
  // keeping eps-CS, or settles at lambda...
  void reverse_bid(int64_t eps, int in, int out) {
    const int64_t lambda = s64[kLambda];
    for (int k = 0; k < s32[kCount0 + in]; ++k) {
      int j = list[in][k];
      if (owner[j] >= 0 || price[j] <= lambda) continue;
      Top2 t = object_top2(j);
      Offer o = assign_core::reverse_offer(t, a(t.j1, j), lambda, eps, j, p.idx_bits, p.offer_offset);
      if (o.packed == 0) {
        price[j] = lambda;
        continue;
      }
      if (o.packed == ~uint64_t(0)) {
        ++s32[kOverflow];
        continue;
      }
      offer[t.j1] = std::max(offer[t.j1], o.packed);
      push(out, j);
      s32[kFlag] = 1;
    }
  }
  // ...and each person takes the offer leaving it the most profit, freeing its old object.
  void reverse_resolve(int in, int out) {
    const int64_t lambda = s64[kLambda];
    for (int i = 0; i < p.P; ++i) {
      uint64_t o = offer[i];
      if (o == 0) continue;
      offer[i] = 0;
      int j = (int)(o & mask()), k = col_of[i];
      int64_t gain = (int64_t)(o >> p.idx_bits) - p.offer_offset;
      owner[k] = -1;
      if (price[k] > lambda) push(out, k);
      owner[j] = i, col_of[i] = j, price[j] = a(i, j) - gain, profit[i] = gain;
    }
    end_round(in, false);
  }
  // The certificate: persons matched one-to-one in 1-CS, and no unowned object priced above an
  // owned one.
  void certify() {
    int64_t min_owned = INT64_MAX;
    for (int i = 0; i < p.P; ++i) {
      int j = col_of[i];
      bool ok = j >= 0 && j < p.Q && owner[j] == i;
      if (ok) ok = a(i, j) - price[j] >= person_top2(i).v1 - 1, min_owned = std::min(min_owned, price[j]);
      if (!ok) ++s32[kViolations];
    }
    for (int j = 0; j < p.Q; ++j)
      if (owner[j] < 0 && price[j] > min_owned) ++s32[kViolations];
  }
};

}  // namespace

AuctionReport assign_auction(const double* M, int n, int m, bool minimize, int64_t* row_to_col, void* work) {
  AuctionReport rep;
  if (n < 0 || m < 0) throw std::logic_error("assign_auction: negative size");
  if (n == 0 || m == 0) {
    for (int i = 0; i < n; ++i) row_to_col[i] = -1;
    rep.certified = true;
    return rep;
  }
  if (std::max(n, m) > (1 << 28)) throw InputError("assign_auction: matrix side above 2^28");
  Layout L = layout(n, m);
  char* base = static_cast<char*>(work);
  auto at = [&](size_t off) { return static_cast<void*>(base + off); };
  Auction A;
  A.level = (int32_t*)at(L.level), A.owner = (int32_t*)at(L.owner), A.col_of = (int32_t*)at(L.col_of);
  A.list[0] = (int32_t*)at(L.list0), A.list[1] = (int32_t*)at(L.list1), A.s32 = (int32_t*)at(L.scalars);
  A.price = (int64_t*)at(L.price), A.profit = (int64_t*)at(L.profit), A.s64 = (int64_t*)at(L.scalars + 64);
  A.bid = (uint64_t*)at(L.bid), A.offer = (uint64_t*)at(L.offer);

  // Quantise into person-major levels.
  const size_t count = (size_t)n * m;
  double lo = minimize ? -M[0] : M[0], hi = lo;
  for (size_t k = 0; k < count; ++k) {
    double x = minimize ? -M[k] : M[k];
    lo = std::min(lo, x), hi = std::max(hi, x);
  }
  Plan& p = A.p;
  p = make_plan(n, m, minimize, lo, hi);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < m; ++c) {
      int32_t l = level_of(M[(size_t)r * m + c], minimize, p.lo, p.range, p.K);
      if (p.persons_are_rows)
        A.level[(size_t)r * m + c] = l;
      else
        A.level[(size_t)c * n + r] = l;
    }
  rep.levels = p.K;
  rep.quantum = quantum(p);
  rep.error_bound = p.P * rep.quantum;

  for (int j = 0; j < p.Q; ++j) A.price[j] = 0, A.bid[j] = 0, A.owner[j] = -1;
  for (int i = 0; i < p.P; ++i) A.col_of[i] = -1, A.offer[i] = 0;
  for (int k = 0; k < kNum32; ++k) A.s32[k] = 0;
  for (int k = 0; k < kNum64; ++k) A.s64[k] = 0;

  for (int64_t eps = p.eps0;; eps = std::max<int64_t>(1, eps / kEpsFactor)) {
    ++rep.phases;
    int cur = 0;
    A.normalise();
    A.restart(eps, cur);
    while (A.s32[kUnassigned] > 0) {
      A.forward_bid(eps, cur, cur ^ 1);
      if (A.s32[kOverflow]) break;
      A.forward_resolve(cur, cur ^ 1);
      cur ^= 1;
      if (A.s32[kOverflow]) break;
    }
    if (p.Q > p.P && !A.s32[kOverflow]) {
      A.reverse_start(cur);
      while (A.s32[kCount0 + cur] > 0) {
        A.reverse_bid(eps, cur, cur ^ 1);
        if (A.s32[kOverflow]) break;
        A.reverse_resolve(cur, cur ^ 1);
        cur ^= 1;
        if (A.s32[kOverflow]) break;
      }
    }
    if (A.s32[kOverflow])
      throw std::runtime_error("assign_auction: price overflow or no convergence (a bug: the plan bounds both)");
    if (eps == 1) break;
  }
  rep.rounds = A.s64[kRounds];
  A.certify();
  rep.violations = A.s32[kViolations];
  rep.certified = rep.violations == 0;

  // Output and the objective, summed in the GPU's fixed order.
  double* matched = (double*)at(L.matched);
  for (int r = 0; r < n; ++r) {
    int c = p.persons_are_rows ? A.col_of[r] : A.owner[r];
    row_to_col[r] = c;
    matched[r] = c >= 0 ? M[(size_t)r * m + c] : 0.0;
  }
  double* s = (double*)at(L.partial);
  for (int t = 0; t < kSumLanes; ++t) {
    s[t] = 0;
    for (int r = t; r < n; r += kSumLanes) s[t] += matched[r];
  }
  for (int stride = kSumLanes / 2; stride > 0; stride /= 2)
    for (int t = 0; t < stride; ++t) s[t] += s[t + stride];
  rep.objective = s[0];
  return rep;
}

}  // namespace cvg::cpu
