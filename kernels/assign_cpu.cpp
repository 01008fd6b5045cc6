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
inline double cost(const double* row, size_t j) {
  return NEG ? -row[j] : row[j];
}

// Per-problem arrays, carved from the caller's workspace.
struct Work {
  double* T;         // transposed copy (n > m only)
  double* v;         // column potentials
  double* vv;        // v for unscanned columns, -inf once scanned, so relaxations skip them
  double* d;         // shortest-path distances; +inf once scanned, so the minimum skips them
  double* scan_d;    // distance of each scanned column, in scan order
  double* uc;        // row potentials
  int64_t* pred;     // row before each column on its shortest path (also: column reduction argmin)
  int32_t* y;        // column -> row, -1 free
  int32_t* scanned;  // scanned columns, in order
  int32_t* x;        // row -> column, -1 free
  int32_t* free_rows;
  int32_t* count;  // column reduction: columns won by each row
};

struct Sizes {
  size_t T, v, vv, d, scan_d, uc, pred, y, scanned, x, free_rows, count, total;
};

Sizes sizes(int n, int m) {
  size_t rows = (size_t)std::min(n, m), cols = (size_t)std::max(n, m), off = 0;
  auto take = [&](size_t bytes) {
    size_t at = off;
    off += (bytes + 63) / 64 * 64;
    return at;
  };
  Sizes s;
  s.T = take(n > m ? (size_t)n * m * sizeof(double) : 0);
  s.v = take(cols * 8), s.vv = take(cols * 8), s.d = take(cols * 8);
  s.scan_d = take(cols * 8), s.uc = take(rows * 8), s.pred = take(cols * 8);
  s.y = take(cols * 4), s.scanned = take(cols * 4), s.x = take(rows * 4), s.free_rows = take(rows * 4);
  s.count = take(rows * 4);
  s.total = off;
  return s;
}

// ---- dense row passes ----
// Every pass finds values only (min and max chains on independent accumulators, so the loop runs at
// load speed); the column of a value is found afterwards by a short search for the first column that
// reproduces it bit for bit (the same subtractions give the same doubles).

#if defined(__AVX2__)
template <bool NEG>
inline __m256d load_cost(const double* p) {
  __m256d c = _mm256_loadu_pd(p);
  return NEG ? _mm256_xor_pd(c, _mm256_set1_pd(-0.0)) : c;
}
inline double hmin(__m256d a) {
  __m128d m = _mm_min_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return std::min(_mm_cvtsd_f64(m), _mm_cvtsd_f64(_mm_unpackhi_pd(m, m)));
}
#endif

// The two smallest values (as a multiset: equal when the minimum occurs twice) of u_j = c_ij - v_j.
struct Min2 {
  double u1 = kInf, u2 = kInf;
  void push(double u) { u2 = std::min(u2, std::max(u1, u)), u1 = std::min(u1, u); }
};

template <bool NEG>
Min2 min2_reduced(const double* row, int cols, const double* v) {
  Min2 t;
  int j = 0;
#if defined(__AVX2__)
  const __m256d inf = _mm256_set1_pd(kInf);
  __m256d a1[4] = {inf, inf, inf, inf}, a2[4] = {inf, inf, inf, inf};
  for (; j + 16 <= cols; j += 16)
    for (int a = 0; a < 4; ++a) {
      __m256d u = _mm256_sub_pd(load_cost<NEG>(row + j + 4 * a), _mm256_loadu_pd(v + j + 4 * a));
      a2[a] = _mm256_min_pd(a2[a], _mm256_max_pd(a1[a], u));
      a1[a] = _mm256_min_pd(a1[a], u);
    }
  for (; j + 4 <= cols; j += 4) {
    __m256d u = _mm256_sub_pd(load_cost<NEG>(row + j), _mm256_loadu_pd(v + j));
    a2[0] = _mm256_min_pd(a2[0], _mm256_max_pd(a1[0], u));
    a1[0] = _mm256_min_pd(a1[0], u);
  }
  alignas(32) double l1[16], l2[16];
  for (int a = 0; a < 4; ++a) _mm256_store_pd(l1 + 4 * a, a1[a]), _mm256_store_pd(l2 + 4 * a, a2[a]);
  for (int k = 0; k < 16; ++k) t.push(l1[k]), t.u2 = std::min(t.u2, l2[k]);
#endif
  for (; j < cols; ++j) t.push(cost<NEG>(row, j) - v[j]);
  return t;
}

// The first column other than `skip` whose u_j = c_ij - v_j equals `target` (-1 if none).
template <bool NEG>
int64_t first_equal(const double* row, int cols, const double* v, double target, int64_t skip) {
  int j = 0;
#if defined(__AVX2__)
  const __m256d T = _mm256_set1_pd(target);
  for (; j + 4 <= cols; j += 4) {
    __m256d u = _mm256_sub_pd(load_cost<NEG>(row + j), _mm256_loadu_pd(v + j));
    for (int bits = _mm256_movemask_pd(_mm256_cmp_pd(u, T, _CMP_EQ_OQ)); bits; bits &= bits - 1) {
      int64_t k = j + __builtin_ctz(bits);
      if (k != skip) return k;
    }
  }
#endif
  for (; j < cols; ++j)
    if (cost<NEG>(row, j) - v[j] == target && j != skip) return j;
  return -1;
}

// Relaxes every unscanned column from row i (reduced distance offset h):
//   d_j = min(d_j, c_ij - v_j - h), pred_j = i where it improves,
// and returns the least d_j over all columns (scanned columns hold +inf).
template <bool NEG>
double relax_row(const double* row, int cols, int64_t i, double h, const double* vv, double* d, int64_t* pred) {
  double best = kInf;
  int j = 0;
#if defined(__AVX2__)
  const __m256d H = _mm256_set1_pd(h);
  const __m256i I = _mm256_set1_epi64x(i);
  __m256d b0 = _mm256_set1_pd(kInf), b1 = b0;
  auto step = [&](int k, __m256d& b) {
    __m256d nd = _mm256_sub_pd(_mm256_sub_pd(load_cost<NEG>(row + k), _mm256_loadu_pd(vv + k)), H);
    __m256d od = _mm256_loadu_pd(d + k);
    __m256d lt = _mm256_cmp_pd(nd, od, _CMP_LT_OQ);
    __m256d dj = _mm256_min_pd(nd, od);  // nd < od ? nd : od
    _mm256_storeu_pd(d + k, dj);
    // Improvements grow rare as the search goes on, so most groups skip the pred write; a blend, not a
    // masked store, which costs about ten times more on AMD's Zen cores (it halved the scans there).
    if (_mm256_movemask_pd(lt)) {
      double* p = reinterpret_cast<double*>(pred + k);
      _mm256_storeu_pd(p, _mm256_blendv_pd(_mm256_loadu_pd(p), _mm256_castsi256_pd(I), lt));
    }
    b = _mm256_min_pd(b, dj);
  };
  for (; j + 8 <= cols; j += 8) step(j, b0), step(j + 4, b1);
  for (; j + 4 <= cols; j += 4) step(j, b0);
  best = hmin(_mm256_min_pd(b0, b1));
#endif
  for (; j < cols; ++j) {
    double nd = (cost<NEG>(row, j) - vv[j]) - h;
    if (nd < d[j]) d[j] = nd, pred[j] = i;
    best = std::min(best, d[j]);
  }
  return best;
}

// Among the columns at distance dist, the first free one, else the first one.
int pick_column(const double* d, const int32_t* y, int cols, double dist) {
  int first = -1, j = 0;
#if defined(__AVX2__)
  const __m256d D = _mm256_set1_pd(dist);
  for (; j + 4 <= cols; j += 4)
    for (int bits = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(d + j), D, _CMP_EQ_OQ)); bits; bits &= bits - 1) {
      int k = j + __builtin_ctz(bits);
      if (y[k] < 0) return k;
      if (first < 0) first = k;
    }
#endif
  for (; j < cols; ++j)
    if (d[j] == dist) {
      if (y[j] < 0) return j;
      if (first < 0) first = j;
    }
  return first;
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
        if (!_mm256_movemask_pd(lt)) continue;  // a column's minimum changes only ~ln(rows) times
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
        v[j1] = -kInf;                                       // masks column j1: its reduced cost becomes +inf
        double mu = min2_reduced<NEG>(row(i), cols_, v).u1;  // least reduced cost over the other columns
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
    // JV can cycle on tiny decrements, and long displacement chains free few rows: bound the work.
    // A step costs one row pass, as a shortest-path scan does, and augmenting paths lengthen with
    // n, so larger problems get more steps per row: 1 up to n = 1024, rising to 4 from n = 4096
    // (on uniform and correlation-like matrices, n = 96..4096: up to 2x faster than a fixed 4).
    const long cap = (long)(std::clamp(rows_ / 1024.0, 1.0, 4.0) * rows_) + 16;
    long steps = 0;
    while (k < prev) {
      if (++steps > cap) {
        while (k < prev) fr[out++] = fr[k++];
        break;
      }
      int i = fr[k++];
      // The two least reduced costs of row i, by (value, column): u1 at j1, u2 at j2 (found when needed).
      Min2 t = min2_reduced<NEG>(row(i), cols_, w_.v);
      int j1 = (int)first_equal<NEG>(row(i), cols_, w_.v, t.u1, -1), i0 = w_.y[j1];
      double lowered = w_.v[j1] - (t.u2 - t.u1);
      bool lowers = lowered < w_.v[j1];
      if (lowers) {
        w_.v[j1] = lowered;
      } else if (i0 >= 0) {
        j1 = (int)first_equal<NEG>(row(i), cols_, w_.v, t.u2, j1);
        i0 = w_.y[j1];
      }
      w_.x[i] = j1, w_.y[j1] = i;
      if (i0 >= 0) {
        w_.x[i0] = -1;
        if (lowers)
          fr[--k] = i0;
        else
          fr[out++] = i0;
      }
    }
    return out;
  }

  // Dijkstra from free row f over reduced costs c_ij - u_i - v_j >= 0 to the nearest free column,
  // then potentials of the scanned columns absorb the distances and the path is flipped.
  void augment(int f) {
    double *v = w_.v, *vv = w_.vv, *d = w_.d;
    int64_t* pred = w_.pred;
    std::memcpy(vv, v, cols_ * sizeof(double));
    for (int j = 0; j < cols_; ++j) d[j] = kInf;
    int nscan = 0;
    double dist = relax_row<NEG>(row(f), cols_, f, 0.0, vv, d, pred);
    int j = pick_column(d, w_.y, cols_, dist);
    while (w_.y[j] >= 0) {
      int i = w_.y[j];
      w_.scanned[nscan] = j, w_.scan_d[nscan] = dist, ++nscan;
      d[j] = kInf, vv[j] = -kInf;
      double h = (cost<NEG>(row(i), j) - v[j]) - dist;  // u_i - dist
      dist = relax_row<NEG>(row(i), cols_, i, h, vv, d, pred);
      j = pick_column(d, w_.y, cols_, dist);
    }
    const int sink = j;
    for (int k = 0; k < nscan; ++k) v[w_.scanned[k]] += w_.scan_d[k] - dist;
    for (int c = sink;;) {
      int i = (int)pred[c];
      w_.y[c] = i;
      int next = w_.x[i];
      w_.x[i] = c;
      if (i == f) break;
      c = next;
    }
  }

  const double* A_;
  size_t ld_;
  int rows_, cols_;
  Work w_;
};

}  // namespace

size_t assign_exact_workspace_bytes(int n, int m) { return n <= 0 || m <= 0 ? 0 : sizes(n, m).total; }

double assign_exact(const double* M, int n, int m, bool minimize, int64_t* row_to_col, double* u, double* v, void* work) {
  if (n < 0 || m < 0) throw std::logic_error("assign_exact: negative size");
  if (n == 0 || m == 0) {
    for (int i = 0; i < n; ++i) row_to_col[i] = -1;
    if (u) std::fill(u, u + n, 0.0);
    if (v) std::fill(v, v + m, 0.0);
    return 0;
  }
  Sizes s = sizes(n, m);
  char* base = static_cast<char*>(work);
  Work w{reinterpret_cast<double*>(base + s.T),          reinterpret_cast<double*>(base + s.v),
         reinterpret_cast<double*>(base + s.vv),         reinterpret_cast<double*>(base + s.d),
         reinterpret_cast<double*>(base + s.scan_d),     reinterpret_cast<double*>(base + s.uc),
         reinterpret_cast<int64_t*>(base + s.pred),      reinterpret_cast<int32_t*>(base + s.y),
         reinterpret_cast<int32_t*>(base + s.scanned),   reinterpret_cast<int32_t*>(base + s.x),
         reinterpret_cast<int32_t*>(base + s.free_rows), reinterpret_cast<int32_t*>(base + s.count)};
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
  if (minimize)
    Solver<false>(A, ld, rows, cols, w).run();
  else
    Solver<true>(A, ld, rows, cols, w).run();

  // Back to the caller's orientation and sense (costs were s*M with s = -1 when maximising).
  const double sgn = minimize ? 1.0 : -1.0;
  if (!transposed) {
    for (int i = 0; i < n; ++i) row_to_col[i] = w.x[i];
    if (u)
      for (int i = 0; i < n; ++i) u[i] = sgn * w.uc[i];
    if (v)
      for (int j = 0; j < m; ++j) v[j] = sgn * w.v[j];
  } else {
    for (int i = 0; i < n; ++i) row_to_col[i] = -1;
    for (int r = 0; r < rows; ++r) row_to_col[w.x[r]] = r;
    if (u)
      for (int i = 0; i < n; ++i) u[i] = sgn * w.v[i];
    if (v)
      for (int j = 0; j < m; ++j) v[j] = sgn * w.uc[j];
  }
  double objective = 0;
  for (int i = 0; i < n; ++i)
    if (row_to_col[i] >= 0) objective += M[(size_t)i * m + row_to_col[i]];
  return objective;
}

}  // namespace cvg::cpu
