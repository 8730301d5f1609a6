// Per-vertex math of the tree filter, shared by the CPU loops and the CUDA kernels.
//
// A tree is stored in BFS order: position k in [0, V) holds the vertex order[k] (raster index),
// its parent sits at position parent[k] < k (the root is position 0, parent[0] = 0), and its
// children at positions children[4k .. 4k+3] > k (padded with -1; a 4-connected grid tree has at
// most 4). weight[k] in [0, 1] is the weight of the edge (k, parent[k]); weight[0] is unused.
//
// The filter out_i = sum_j S(i,j) x_j / sum_j S(i,j), S(i,j) = product of the weights on the
// tree path between i and j, is two linear passes over a BFS-ordered array:
//   leaf -> root  U(k) = x(k) + sum_{c in children(k)} w(c) U(c)            (tree_up_value)
//   root -> leaf  A(k) = w(k) A(parent(k)) + (1 - w(k)^2) U(k), A(0) = U(0)  (tree_down_value)
// The up pass runs over positions in decreasing order in its scatter form (CPU,
// tree_up_push) or level by level from the deepest level in its gather form (CUDA,
// tree_up_value): either way every child is final before its parent is used. The down pass runs
// in increasing order or level by level from the root. CPU and CUDA add the children terms in
// a different order, so they agree to rounding, not bit for bit.
//
// The operator x -> A is symmetric (S is), so its adjoint is the same two passes: the gradient
// of sum_k g(k) A(k) with respect to x is tree_down(tree_up(g)). With respect to the weights,
// for k > 0, with U, A the passes of x, G = tree_up(g) and D = tree_down(G):
//   dL/dw(k) = G(k) (A(parent(k)) - 2 w(k) U(k)) + D(parent(k)) U(k)   (tree_weight_grad_value).
#pragma once

#include "common.h"

namespace box2mask {
namespace tree_filter {

// Most children a vertex of a 4-connected grid tree can have (the root: 4, others: 3).
constexpr int kMaxChildren = 4;

// Leaf -> root aggregation at BFS position k: x_k + sum of w(c) U(c) over the children c.
template <typename T>
HOST_DEVICE_INLINE T tree_up_value(int k, T x_k, const T* up, const T* weight,
                                   const int* children) {
  // Branch-free: a missing child (-1) reads position 0 instead and adds 0 (the number of
  // children varies at random along a tree, a branch on it would be mispredicted).
  T acc = x_k;
  const int* ch = children + kMaxChildren * k;
  for (int j = 0; j < kMaxChildren; ++j) {
    const int c = ch[j];
    const int safe = c < 0 ? 0 : c;
    const T term = weight[safe] * up[safe];
    acc += c < 0 ? T(0) : term;
  }
  return acc;
}

// The same pass in scatter form (CPU): for k = V-1 .. 1, once up[k] holds x_k plus its
// children's terms, push w(k) U(k) into the parent.
template <typename T>
HOST_DEVICE_INLINE void tree_up_push(int k, T* up, const T* weight, const int* parent) {
  up[parent[k]] += weight[k] * up[k];
}

// Root -> leaf propagation at BFS position k: w(k) A(parent) + (1 - w(k)^2) U(k).
template <typename T>
HOST_DEVICE_INLINE T tree_down_value(int k, T up_k, const T* down, const T* weight,
                                     const int* parent) {
  if (k == 0) return up_k;
  const T w = weight[k];
  return w * down[parent[k]] + (T(1) - w * w) * up_k;
}

// Contribution of one channel to dL/dw(k), k > 0 (see the header comment).
template <typename T>
HOST_DEVICE_INLINE T tree_weight_grad_value(int k, const T* up, const T* down, const T* grad_up,
                                            const T* grad_down, const T* weight,
                                            const int* parent) {
  const int p = parent[k];
  return grad_up[k] * (down[p] - T(2) * weight[k] * up[k]) + grad_down[p] * up[k];
}

}  // namespace tree_filter
}  // namespace box2mask
