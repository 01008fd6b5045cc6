// Many-to-many: groups of units from both nets that share a subspace (the paper's method 5), by
// spectral clustering of the joint correlation matrix J of both nets' units (A's units first).
//   affinity     W_ij = |J_ij| for i != j, W_ii = 0. The absolute value because a shared subspace
//                is shared whatever the signs of the units spanning it.
//   Laplacian    the normalised L = I - D^-1/2 W D^-1/2 (D = diag of W's row sums).
//   groups k     given, or where L's eigenvalues l_1 <= l_2 <= ... jump most: the k in
//                [min_groups, max_groups] with the largest l_{k+1} - l_k (the eigengap).
//   embedding    the k eigenvectors of L's smallest eigenvalues, each node's row scaled to unit
//                length (Ng, Jordan, Weiss 2001), then k-means: k-means++ seeding from the
//                project's counter-based RNG with a fixed seed, several restarts, the lowest
//                within-group sum of squares kept; so the result is deterministic. Lloyd's
//                iterations often stop in a worse fixed point (on a 16-unit pair, 10 restarts
//                kept inertia 2.676 where 20 found 2.606), so restarts are as many as a fixed
//                amount of work allows: kmeans_restarts().
// The paper (docs/PAPER.md) describes no hierarchical variant, so none is built.
#pragma once
#include <cstdint>
#include <vector>

namespace cvg {

struct SpectralOptions {
  int groups = 0;  // 0: choose by the eigengap
  int min_groups = 2;
  int max_groups = 0;  // 0: n / 4 (at least min_groups, at most n - 1)
  int restarts = 0;  // 0: kmeans_restarts(n, k)
  uint64_t seed = 1;
};

struct UnitGroup {
  std::vector<int> nodes;  // joint indices, A's (ascending) then B's (ascending)
  int from_a = 0, from_b = 0;
  double mean_corr = 0;      // mean J_ij over the group's distinct pairs (NaN for a single unit)
  double mean_abs_corr = 0;  // mean |J_ij| over the same pairs
  double mean_between = 0;   // mean J_ij over its pairs with one unit of each net (NaN if unmixed)
  bool mixed() const { return from_a > 0 && from_b > 0; }
};

struct SpectralGroups {
  int n = 0, na = 0;
  int k = 0;
  bool k_from_eigengap = false;
  std::vector<double> laplacian_eigenvalues;  // the smallest ones of L, ascending (max_groups + 1)
  std::vector<int> label;                     // [n]: group of each node, in the sorted numbering
  std::vector<UnitGroup> groups;              // largest first (ties: lowest first node)
  std::vector<int> order;                     // nodes in group-sorted order (for the heatmap)
  int mixed = 0;                              // groups with units from both nets
  double inertia = 0;                         // k-means within-group sum of squares
  int restarts = 0;                           // k-means restarts made
};

// Restarts for n points in k groups: the restarts' summed work per Lloyd iteration (restarts x
// n k^2 multiply-adds) held near 1e9, within [10, 100]; 100 up to n k^2 = 1e7 (n = 1024, k = 98).
int kmeans_restarts(int n, int k);

// J: the joint correlation matrix [n x n] (symmetric), na = how many of its first nodes are net A's.
SpectralGroups spectral_groups(const std::vector<double>& J, int n, int na, const SpectralOptions& opt = {});

// J with its rows and columns permuted: out[i][j] = J[order[i]][order[j]].
std::vector<double> permuted(const std::vector<double>& J, int n, const std::vector<int>& order);

}  // namespace cvg
