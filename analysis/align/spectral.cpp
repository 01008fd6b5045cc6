#include "analysis/align/spectral.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "analysis/align/linalg.h"
#include "base/errors.h"
#include "kernels/rng.h"

namespace cvg {

namespace {

double dist2(const double* a, const double* b, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// Lloyd's k-means on points [n x d] from the given centres; returns the labels and the inertia.
// The nearest centre minimises |c|^2 - 2 x.c, whose products are one GEMM per iteration (the
// n k d multiply-adds that dominate at large k); the inertia is summed from the direct distances.
double lloyd(const std::vector<double>& x, int n, int d, int k, std::vector<double>& centres, std::vector<int>& label) {
  label.assign(n, -1);
  double inertia = 0;
  std::vector<double> dots((size_t)n * k), norm2(k);
  for (int iter = 0; iter < 500; ++iter) {
    bool changed = false;
    inertia = 0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, d, 1.0, x.data(), d, centres.data(), d, 0.0, dots.data(), k);
    for (int c = 0; c < k; ++c) {
      const double* cc = &centres[(size_t)c * d];
      norm2[c] = std::inner_product(cc, cc + d, cc, 0.0);
    }
    for (int i = 0; i < n; ++i) {
      int best = 0;
      double bd = std::numeric_limits<double>::infinity();
      for (int c = 0; c < k; ++c) {
        const double dd = norm2[c] - 2 * dots[(size_t)i * k + c];
        if (dd < bd) bd = dd, best = c;
      }
      if (label[i] != best) label[i] = best, changed = true;
      inertia += dist2(&x[(size_t)i * d], &centres[(size_t)best * d], d);
    }
    if (!changed) break;
    std::vector<double> sum((size_t)k * d, 0.0);
    std::vector<int> cnt(k, 0);
    for (int i = 0; i < n; ++i) {
      ++cnt[label[i]];
      for (int j = 0; j < d; ++j) sum[(size_t)label[i] * d + j] += x[(size_t)i * d + j];
    }
    for (int c = 0; c < k; ++c) {
      if (cnt[c] == 0) {  // an empty group takes the point farthest from its centre
        int far = 0;
        double fd = -1;
        for (int i = 0; i < n; ++i) {
          const double dd = dist2(&x[(size_t)i * d], &centres[(size_t)label[i] * d], d);
          if (dd > fd) fd = dd, far = i;
        }
        std::copy(&x[(size_t)far * d], &x[(size_t)far * d] + d, &centres[(size_t)c * d]);
        label[far] = c;
        continue;
      }
      for (int j = 0; j < d; ++j) centres[(size_t)c * d + j] = sum[(size_t)c * d + j] / cnt[c];
    }
  }
  return inertia;
}

// k-means++ seeding with the counter-based RNG (stream = restart), so runs are reproducible.
std::vector<double> seed_centres(const std::vector<double>& x, int n, int d, int k, uint64_t seed, uint64_t restart) {
  std::vector<double> centres((size_t)k * d);
  uint64_t draw = 0;
  auto uniform = [&] { return (double)rng_uniform(seed, 0xa11900 + restart, draw++); };
  int first = std::min(n - 1, (int)(uniform() * n));
  std::copy(&x[(size_t)first * d], &x[(size_t)first * d] + d, centres.begin());
  std::vector<double> nearest(n);
  for (int i = 0; i < n; ++i) nearest[i] = dist2(&x[(size_t)i * d], &centres[0], d);
  for (int c = 1; c < k; ++c) {
    const double total = std::accumulate(nearest.begin(), nearest.end(), 0.0);
    int pick = n - 1;
    if (total > 0) {
      double t = uniform() * total;
      for (int i = 0; i < n; ++i) {
        t -= nearest[i];
        if (t < 0) {
          pick = i;
          break;
        }
      }
    } else {
      pick = c % n;
    }
    std::copy(&x[(size_t)pick * d], &x[(size_t)pick * d] + d, &centres[(size_t)c * d]);
    for (int i = 0; i < n; ++i) nearest[i] = std::min(nearest[i], dist2(&x[(size_t)i * d], &centres[(size_t)c * d], d));
  }
  return centres;
}

}  // namespace

int kmeans_restarts(int n, int k) {
  const double per_iteration = (double)n * k * k;
  return (int)std::clamp(1e9 / std::max(per_iteration, 1.0), 10.0, 100.0);
}

std::vector<double> permuted(const std::vector<double>& J, int n, const std::vector<int>& order) {
  if (J.size() != (size_t)n * n || order.size() != (size_t)n) throw std::logic_error("permuted: sizes differ");
  std::vector<double> out((size_t)n * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) out[(size_t)i * n + j] = J[(size_t)order[i] * n + order[j]];
  return out;
}

SpectralGroups spectral_groups(const std::vector<double>& J, int n, int na, const SpectralOptions& opt) {
  if (n < 0 || na < 0 || na > n || J.size() != (size_t)n * n) throw std::logic_error("spectral_groups: the matrix is not n x n");
  if (opt.groups < 0 || opt.groups > n) throw InputError("spectral_groups: --groups must be in 1..units");
  if (opt.restarts < 0) throw std::logic_error("spectral_groups: restarts must be >= 0");
  SpectralGroups sg;
  sg.n = n, sg.na = na;
  if (n == 0) return sg;

  // Normalised affinity M = D^-1/2 W D^-1/2; L = I - M, so L's smallest are M's largest.
  std::vector<double> deg(n, 0.0), inv_sqrt(n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (i != j) deg[i] += std::fabs(J[(size_t)i * n + j]);
  for (int i = 0; i < n; ++i) inv_sqrt[i] = deg[i] > 0 ? 1.0 / std::sqrt(deg[i]) : 0.0;
  std::vector<double> M((size_t)n * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (i != j) M[(size_t)i * n + j] = std::fabs(J[(size_t)i * n + j]) * inv_sqrt[i] * inv_sqrt[j];
  const SymEig eig = sym_eig(M, n, true);
  auto lap = [&](int k) { return 1.0 - eig.values[n - 1 - k]; };  // k-th smallest of L, 0-based

  int kmin = std::max(1, std::min(opt.min_groups, n));
  int kmax = opt.max_groups > 0 ? opt.max_groups : n / 4;
  kmax = std::max(kmin, std::min(kmax, n - 1));
  if (n == 1) kmin = kmax = 1;
  for (int k = 0; k < std::min(n, kmax + 1); ++k) sg.laplacian_eigenvalues.push_back(lap(k));
  int k = opt.groups;
  if (k == 0) {
    sg.k_from_eigengap = true;
    k = kmin;
    double best = -1;
    for (int c = kmin; c <= kmax && c < n; ++c) {
      const double gap = lap(c) - lap(c - 1);  // l_{c+1} - l_c in 1-based terms
      if (gap > best) best = gap, k = c;
    }
  }
  sg.k = k;

  // Embedding: rows of the top-k eigenvectors of M, normalised.
  std::vector<double> x((size_t)n * k);
  for (int c = 0; c < k; ++c) {
    const int src = n - 1 - c;
    for (int i = 0; i < n; ++i) x[(size_t)i * k + c] = eig.vectors[(size_t)src * n + i];
  }
  for (int i = 0; i < n; ++i) {
    double s = 0;
    for (int c = 0; c < k; ++c) s += x[(size_t)i * k + c] * x[(size_t)i * k + c];
    if (s > 0)
      for (int c = 0; c < k; ++c) x[(size_t)i * k + c] /= std::sqrt(s);
  }
  std::vector<int> best_label;
  double best_inertia = std::numeric_limits<double>::infinity();
  sg.restarts = opt.restarts > 0 ? opt.restarts : kmeans_restarts(n, k);
  for (int r = 0; r < sg.restarts; ++r) {
    std::vector<double> centres = seed_centres(x, n, k, k, opt.seed, r);
    std::vector<int> label;
    const double inertia = lloyd(x, n, k, k, centres, label);
    if (inertia < best_inertia - 1e-12) best_inertia = inertia, best_label = label;
  }
  sg.inertia = best_inertia;

  // Groups: A's nodes then B's (each ascending), largest group first.
  std::vector<UnitGroup> groups(k);
  for (int i = 0; i < n; ++i) groups[best_label[i]].nodes.push_back(i);
  groups.erase(std::remove_if(groups.begin(), groups.end(), [](const UnitGroup& g) { return g.nodes.empty(); }), groups.end());
  std::stable_sort(groups.begin(), groups.end(), [](const UnitGroup& a, const UnitGroup& b) {
    return a.nodes.size() != b.nodes.size() ? a.nodes.size() > b.nodes.size() : a.nodes[0] < b.nodes[0];
  });
  sg.label.assign(n, -1);
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    UnitGroup& g = groups[gi];
    double s = 0, sa = 0, sb = 0;
    long pairs = 0, between = 0;
    for (size_t p = 0; p < g.nodes.size(); ++p) {
      const int i = g.nodes[p];
      sg.label[i] = (int)gi;
      sg.order.push_back(i);
      (i < na ? g.from_a : g.from_b)++;
      for (size_t q = p + 1; q < g.nodes.size(); ++q) {
        const int j = g.nodes[q];
        const double v = J[(size_t)i * n + j];
        s += v, sa += std::fabs(v), ++pairs;
        if ((i < na) != (j < na)) sb += v, ++between;
      }
    }
    g.mean_corr = pairs ? s / pairs : NAN;
    g.mean_abs_corr = pairs ? sa / pairs : NAN;
    g.mean_between = between ? sb / between : NAN;
    sg.mixed += g.mixed();
  }
  sg.groups = std::move(groups);
  return sg;
}

}  // namespace cvg
