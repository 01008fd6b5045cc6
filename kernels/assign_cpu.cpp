// The exact CPU solver: Jonker-Volgenant shortest augmenting paths with dual potentials, in double.
// Works on the min-cost problem with rows <= cols (a transposed copy when n > m; costs negated on the
// fly to maximise). Hot loops are AVX2 when available, with scalar twins that pick the same results.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/assign.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace cvg::cpu {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

template <bool NEG>
inline double cost(const double* row, size_t j) { return NEG ? -row[j] : row[j]; }

// Per-problem arrays, carved from the caller's workspace.
struct Work {
  double* T;        // transposed copy (n > m only)
  double* v;        // column potentials
  double* vv;       // v for unscanned columns, -inf once scanned, so relaxations skip them
  double* d;        // shortest-path distances; +inf once scanned, so the minimum skips them
  double* busy;     // 1 = column matched, 0 = free: among equal distances a free column is preferred
  double* scan_d;   // distance of each scanned column, in scan order
  double* uc;       // row potentials
  int64_t* pred;    // row before each column on its shortest path (also: column reduction argmin)
  int32_t* y;       // column -> row, -1 free
  int32_t* scanned; // scanned columns, in order
  int32_t* x;       // row -> column, -1 free
  int32_t* free_rows;
  int32_t* count;   // column reduction: columns won by each row
};

struct Sizes {
  size_t T, v, vv, d, busy, scan_d, uc, pred, y, scanned, x, free_rows, count, total;
};

Sizes sizes(int n, int m) {
  size_t rows = (size_t)std::min(n, m), cols = (size_t)std::max(n, m), off = 0;
  auto take = [&](size_t bytes) { size_t at = off; off += (bytes + 63) / 64 * 64; return at; };
  Sizes s;
  s.T = take(n > m ? (size_t)n * m * sizeof(double) : 0);
  s.v = take(cols * 8), s.vv = take(cols * 8), s.d = take(cols * 8), s.busy = take(cols * 8);
  s.scan_d = take(cols * 8), s.uc = take(rows * 8), s.pred = take(cols * 8);
  s.y = take(cols * 4), s.scanned = take(cols * 4), s.x = take(rows * 4), s.free_rows = take(rows * 4);
  s.count = take(rows * 4);
  s.total = off;
  return s;
}

// ---- dense row passes ----

// Relaxes every unscanned column from row i (reduced distance offset h):
//   d_j = min(d_j, c_ij - v_j - h), pred_j = i where it improves,
// and returns the unscanned column of least (d, busy, j).
struct Least {
  double d, busy;
  int64_t j;
};
inline bool less_than(double d, double b, int64_t j, const Least& l) {
  return d < l.d || (d == l.d && (b < l.busy || (b == l.busy && j < l.j)));
}

template <bool NEG>
Least relax_row(const double* row, int cols, int64_t i, double h, const double* vv, double* d, int64_t* pred,
                const double* busy) {
  Least best{kInf, kInf, -1};
  int j = 0;
#if defined(__AVX2__)
  const __m256d H = _mm256_set1_pd(h), sign = _mm256_set1_pd(-0.0);
  const __m256d I = _mm256_castsi256_pd(_mm256_set1_epi64x(i));
  __m256d bd = _mm256_set1_pd(kInf), bb = _mm256_set1_pd(kInf), bj = _mm256_set1_pd(-1);
  __m256d J = _mm256_setr_pd(0, 1, 2, 3);
  const __m256d four = _mm256_set1_pd(4);
  for (; j + 4 <= cols; j += 4) {
    __m256d c = _mm256_loadu_pd(row + j);
    if (NEG) c = _mm256_xor_pd(c, sign);
    __m256d nd = _mm256_sub_pd(_mm256_sub_pd(c, _mm256_loadu_pd(vv + j)), H);
    __m256d od = _mm256_loadu_pd(d + j);
    __m256d lt = _mm256_cmp_pd(nd, od, _CMP_LT_OQ);
    __m256d dj = _mm256_blendv_pd(od, nd, lt);
    _mm256_storeu_pd(d + j, dj);
    __m256d op = _mm256_loadu_pd(reinterpret_cast<const double*>(pred + j));
    _mm256_storeu_pd(reinterpret_cast<double*>(pred + j), _mm256_blendv_pd(op, I, lt));
    __m256d b = _mm256_loadu_pd(busy + j);
    __m256d better = _mm256_or_pd(_mm256_cmp_pd(dj, bd, _CMP_LT_OQ),
                                  _mm256_and_pd(_mm256_cmp_pd(dj, bd, _CMP_EQ_OQ), _mm256_cmp_pd(b, bb, _CMP_LT_OQ)));
    bd = _mm256_blendv_pd(bd, dj, better);
    bb = _mm256_blendv_pd(bb, b, better);
    bj = _mm256_blendv_pd(bj, J, better);
    J = _mm256_add_pd(J, four);
  }
  alignas(32) double ld[4], lb[4], lj[4];
  _mm256_store_pd(ld, bd), _mm256_store_pd(lb, bb), _mm256_store_pd(lj, bj);
  for (int k = 0; k < 4; ++k)
    if (lj[k] >= 0 && less_than(ld[k], lb[k], (int64_t)lj[k], best)) best = {ld[k], lb[k], (int64_t)lj[k]};
#endif
  for (; j < cols; ++j) {
    double nd = (cost<NEG>(row, j) - vv[j]) - h;
    if (nd < d[j]) d[j] = nd, pred[j] = i;
    if (less_than(d[j], busy[j], j, best)) best = {d[j], busy[j], j};
  }
  return best;
}

// The two smallest reduced costs c_ij - v_j of a row, ordered by (value, column).
struct Two {
  double u1 = kInf, u2 = kInf;
  int64_t j1 = -1, j2 = -1;
  void push(double u, int64_t j) {
    if (u < u1 || (u == u1 && j < j1)) u2 = u1, j2 = j1, u1 = u, j1 = j;
    else if (u < u2 || (u == u2 && j < j2)) u2 = u, j2 = j;
  }
};

template <bool NEG>
Two two_smallest(const double* row, int cols, const double* v) {
  Two t;
  int j = 0;
#if defined(__AVX2__)
  const __m256d sign = _mm256_set1_pd(-0.0), four = _mm256_set1_pd(4);
  __m256d m1 = _mm256_set1_pd(kInf), m2 = m1, i1 = _mm256_set1_pd(-1), i2 = i1;
  __m256d J = _mm256_setr_pd(0, 1, 2, 3);
  for (; j + 4 <= cols; j += 4) {
    __m256d c = _mm256_loadu_pd(row + j);
    if (NEG) c = _mm256_xor_pd(c, sign);
    __m256d u = _mm256_sub_pd(c, _mm256_loadu_pd(v + j));
    __m256d lt1 = _mm256_cmp_pd(u, m1, _CMP_LT_OQ), lt2 = _mm256_cmp_pd(u, m2, _CMP_LT_OQ);
    m2 = _mm256_blendv_pd(_mm256_blendv_pd(m2, u, lt2), m1, lt1);
    i2 = _mm256_blendv_pd(_mm256_blendv_pd(i2, J, lt2), i1, lt1);
    m1 = _mm256_blendv_pd(m1, u, lt1);
    i1 = _mm256_blendv_pd(i1, J, lt1);
    J = _mm256_add_pd(J, four);
  }
  alignas(32) double a1[4], a2[4], b1[4], b2[4];
  _mm256_store_pd(a1, m1), _mm256_store_pd(a2, m2), _mm256_store_pd(b1, i1), _mm256_store_pd(b2, i2);
  for (int k = 0; k < 4; ++k) {
    if (b1[k] >= 0) t.push(a1[k], (int64_t)b1[k]);
    if (b2[k] >= 0) t.push(a2[k], (int64_t)b2[k]);
  }
#endif
  for (; j < cols; ++j) t.push(cost<NEG>(row, j) - v[j], j);
  return t;
}

// ---- the solver ----

template <bool NEG>
class Solver {
 public:
  Solver(const double* A, size_t ld, int rows, int cols, const Work& w) : A_(A), ld_(ld), rows_(rows), cols_(cols), w_(w) {}

  void run() {
    for (int j = 0; j < cols_; ++j) w_.y[j] = -1;
    for (int i = 0; i < rows_; ++i) w_.x[i] = -1;
    int nfree;
    if (rows_ == cols_) {
      nfree = column_reduction();
    } else {
      // Rectangular: potentials start at 0 and only matched columns ever lower theirs, so unmatched
      // columns end at 0 and matched ones <= 0, as the rectangular dual needs.
      for (int j = 0; j < cols_; ++j) w_.v[j] = 0;
      for (int i = 0; i < rows_; ++i) w_.free_rows[i] = i;
      nfree = rows_;
    }
    if (cols_ >= 2) {
      nfree = augmenting_row_reduction(nfree);
      nfree = augmenting_row_reduction(nfree);
    }
    for (int j = 0; j < cols_; ++j) w_.busy[j] = w_.y[j] >= 0 ? 1.0 : 0.0;
    for (int k = 0; k < nfree; ++k) augment(w_.free_rows[k]);
    for (int i = 0; i < rows_; ++i) w_.uc[i] = cost<NEG>(row(i), w_.x[i]) - w_.v[w_.x[i]];
  }

 private:
  const double* row(int i) const { return A_ + (size_t)i * ld_; }

  // Square only. v_j = column minimum; each column goes to its argmin row if that row is still free;
  // then rows holding exactly one column pass on the slack to their second-best (reduction transfer).
  // Returns the number of free rows, listed in free_rows.
  int column_reduction() {
    double* v = w_.v;
    int64_t* imin = w_.pred;
    for (int j = 0; j < cols_; ++j) v[j] = kInf, imin[j] = 0;
    for (int i = 0; i < rows_; ++i) {
      const double* r = row(i);
      int j = 0;
#if defined(__AVX2__)
      const __m256d sign = _mm256_set1_pd(-0.0);
      const __m256d I = _mm256_castsi256_pd(_mm256_set1_epi64x(i));
      for (; j + 4 <= cols_; j += 4) {
        __m256d c = _mm256_loadu_pd(r + j);
        if (NEG) c = _mm256_xor_pd(c, sign);
        __m256d old = _mm256_loadu_pd(v + j);
        __m256d lt = _mm256_cmp_pd(c, old, _CMP_LT_OQ);
        _mm256_storeu_pd(v + j, _mm256_blendv_pd(old, c, lt));
        __m256d oi = _mm256_loadu_pd(reinterpret_cast<const double*>(imin + j));
        _mm256_storeu_pd(reinterpret_cast<double*>(imin + j), _mm256_blendv_pd(oi, I, lt));
      }
#endif
      for (; j < cols_; ++j) {
        double c = cost<NEG>(r, j);
        if (c < v[j]) v[j] = c, imin[j] = i;
      }
    }
    for (int i = 0; i < rows_; ++i) w_.count[i] = 0;
    for (int j = cols_ - 1; j >= 0; --j) {
      int i = (int)imin[j];
      if (w_.count[i]++ == 0) w_.x[i] = j, w_.y[j] = i;
    }
    int nfree = 0;
    for (int i = 0; i < rows_; ++i) {
      if (w_.count[i] == 0) {
        w_.free_rows[nfree++] = i;
      } else if (w_.count[i] == 1 && cols_ >= 2) {
        int j1 = w_.x[i];
        Two t = two_smallest<NEG>(row(i), cols_, v);
        double mu = t.j1 == j1 ? t.u2 : t.u1;  // least reduced cost over the other columns
        v[j1] = cost<NEG>(row(i), j1) - mu;
      }
    }
    return nfree;
  }

  // One JV pass over the free rows: each takes its cheapest column, lowering that column's potential
  // to the row's second-best if it can (displacing the holder, who is retried at once), else takes the
  // second-best column if the best is held. Returns the rows still free.
  int augmenting_row_reduction(int nfree) {
    int32_t* fr = w_.free_rows;
    int k = 0, prev = nfree, out = 0;
    long steps = 0, cap = 4L * rows_ + 16;  // JV can cycle on tiny decrements: bound the work
    while (k < prev) {
      if (++steps > cap) {
        while (k < prev) fr[out++] = fr[k++];
        break;
      }
      int i = fr[k++];
      Two t = two_smallest<NEG>(row(i), cols_, w_.v);
      int j1 = (int)t.j1, i0 = w_.y[j1];
      double lowered = w_.v[j1] - (t.u2 - t.u1);
      bool lowers = lowered < w_.v[j1];
      if (lowers) {
        w_.v[j1] = lowered;
      } else if (i0 >= 0) {
        j1 = (int)t.j2;
        i0 = w_.y[j1];
      }
      w_.x[i] = j1, w_.y[j1] = i;
      if (i0 >= 0) {
        w_.x[i0] = -1;
        if (lowers) fr[--k] = i0;
        else fr[out++] = i0;
      }
    }
    return out;
  }

  // Dijkstra from free row f over reduced costs c_ij - u_i - v_j >= 0 to the nearest free column,
  // then potentials of the scanned columns absorb the distances and the path is flipped.
  void augment(int f) {
    double *v = w_.v, *vv = w_.vv, *d = w_.d, *busy = w_.busy;
    int64_t* pred = w_.pred;
    std::memcpy(vv, v, cols_ * sizeof(double));
    for (int j = 0; j < cols_; ++j) d[j] = kInf;
    int nscan = 0;
    Least best = relax_row<NEG>(row(f), cols_, f, 0.0, vv, d, pred, busy);
    while (w_.y[best.j] >= 0) {
      int j = (int)best.j, i = w_.y[j];
      double dist = best.d;
      w_.scanned[nscan] = j, w_.scan_d[nscan] = dist, ++nscan;
      d[j] = kInf, vv[j] = -kInf;
      double h = (cost<NEG>(row(i), j) - v[j]) - dist;  // u_i - dist
      best = relax_row<NEG>(row(i), cols_, i, h, vv, d, pred, busy);
    }
    int sink = (int)best.j;
    double dist = best.d;
    for (int k = 0; k < nscan; ++k) v[w_.scanned[k]] += w_.scan_d[k] - dist;
    for (int j = sink;;) {
      int i = (int)pred[j];
      w_.y[j] = i;
      int next = w_.x[i];
      w_.x[i] = j;
      if (i == f) break;
      j = next;
    }
    busy[sink] = 1.0;
  }

  const double* A_;
  size_t ld_;
  int rows_, cols_;
  Work w_;
};

}  // namespace

size_t assign_exact_workspace_bytes(int n, int m) { return n <= 0 || m <= 0 ? 0 : sizes(n, m).total; }

double assign_exact(const double* M, int n, int m, bool minimize, int64_t* row_to_col, double* u, double* v,
                    void* work) {
  if (n < 0 || m < 0) throw std::invalid_argument("assign_exact: negative size");
  if (n == 0 || m == 0) {
    for (int i = 0; i < n; ++i) row_to_col[i] = -1;
    if (u) std::fill(u, u + n, 0.0);
    if (v) std::fill(v, v + m, 0.0);
    return 0;
  }
  Sizes s = sizes(n, m);
  char* base = static_cast<char*>(work);
  Work w{reinterpret_cast<double*>(base + s.T),       reinterpret_cast<double*>(base + s.v),
         reinterpret_cast<double*>(base + s.vv),      reinterpret_cast<double*>(base + s.d),
         reinterpret_cast<double*>(base + s.busy),    reinterpret_cast<double*>(base + s.scan_d),
         reinterpret_cast<double*>(base + s.uc),      reinterpret_cast<int64_t*>(base + s.pred),
         reinterpret_cast<int32_t*>(base + s.y),      reinterpret_cast<int32_t*>(base + s.scanned),
         reinterpret_cast<int32_t*>(base + s.x),      reinterpret_cast<int32_t*>(base + s.free_rows),
         reinterpret_cast<int32_t*>(base + s.count)};
  const bool transposed = n > m;
  const int rows = std::min(n, m), cols = std::max(n, m);
  const double* A = M;
  size_t ld = (size_t)m;
  if (transposed) {  // T = M^T, in cache-sized tiles
    const int B = 32;
    for (int i0 = 0; i0 < n; i0 += B)
      for (int j0 = 0; j0 < m; j0 += B)
        for (int i = i0; i < std::min(n, i0 + B); ++i)
          for (int j = j0; j < std::min(m, j0 + B); ++j) w.T[(size_t)j * n + i] = M[(size_t)i * m + j];
    A = w.T, ld = (size_t)n;
  }
  if (minimize) Solver<false>(A, ld, rows, cols, w).run();
  else Solver<true>(A, ld, rows, cols, w).run();

  // Back to the caller's orientation and sense (costs were s*M with s = -1 when maximising).
  const double sgn = minimize ? 1.0 : -1.0;
  if (!transposed) {
    for (int i = 0; i < n; ++i) row_to_col[i] = w.x[i];
    if (u) for (int i = 0; i < n; ++i) u[i] = sgn * w.uc[i];
    if (v) for (int j = 0; j < m; ++j) v[j] = sgn * w.v[j];
  } else {
    for (int i = 0; i < n; ++i) row_to_col[i] = -1;
    for (int r = 0; r < rows; ++r) row_to_col[w.x[r]] = r;
    if (u) for (int i = 0; i < n; ++i) u[i] = sgn * w.v[i];
    if (v) for (int j = 0; j < m; ++j) v[j] = sgn * w.uc[j];
  }
  double objective = 0;
  for (int i = 0; i < n; ++i)
    if (row_to_col[i] >= 0) objective += M[(size_t)i * m + row_to_col[i]];
  return objective;
}

}  // namespace cvg::cpu
