// Tree filter on the CPU: minimum spanning tree of the 4-connected grid (Kruskal with a stable
// radix sort and union-find), BFS order of the tree, and the two-pass filter with its gradient.
// Graph work (MST, BFS) is CPU only; the filter also has CUDA kernels (tree_filter_cuda.cu).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define BOX2MASK_HAS_MXCSR 1
#endif

#include "tree_filter/tree_filter_checks.h"
#include "tree_filter/tree_filter_kernel.h"

namespace box2mask {
namespace tree_filter {
namespace {

// ---------------------------------------------------------------------------------------------
// Minimum spanning tree
// ---------------------------------------------------------------------------------------------

// Edges of the H x W grid, in this (deterministic) index order: first the vertical edges
// (y, x)-(y+1, x) at e = y W + x, then the horizontal edges (y, x)-(y, x+1) at
// e = (H-1) W + y (W-1) + x. Vertices are raster indices y W + x.
struct GridEdges {
  int64_t H, W, num_vertical, num_edges;
  GridEdges(int64_t h, int64_t w)
      : H(h), W(w), num_vertical((h - 1) * w), num_edges((h - 1) * w + h * (w - 1)) {}
  void ends(int64_t e, int32_t* a, int32_t* b) const {
    if (e < num_vertical) {
      *a = static_cast<int32_t>(e);
      *b = static_cast<int32_t>(e + W);
    } else {
      const int64_t r = e - num_vertical, y = r / (W - 1), x = r % (W - 1);
      *a = static_cast<int32_t>(y * W + x);
      *b = *a + 1;
    }
  }
};

// Squared L2 distance of the guide across every grid edge, summed over the G channels.
template <typename scalar_t>
void grid_edge_costs(const scalar_t* guide, int64_t G, const GridEdges& grid, float* cost) {
  const int64_t H = grid.H, W = grid.W, V = H * W;
  std::vector<scalar_t> acc(grid.num_edges, scalar_t(0));
  for (int64_t g = 0; g < G; ++g) {
    const scalar_t* p = guide + g * V;
    scalar_t* vert = acc.data();
    for (int64_t i = 0; i < grid.num_vertical; ++i) {
      const scalar_t d = p[i + W] - p[i];
      vert[i] += d * d;
    }
    scalar_t* hor = acc.data() + grid.num_vertical;
    for (int64_t y = 0; y < H; ++y) {
      const scalar_t* row = p + y * W;
      scalar_t* out = hor + y * (W - 1);
      for (int64_t x = 0; x + 1 < W; ++x) {
        const scalar_t d = row[x + 1] - row[x];
        out[x] += d * d;
      }
    }
  }
  for (int64_t e = 0; e < grid.num_edges; ++e) {
    TORCH_CHECK(std::isfinite(acc[e]),
                "tree_filter_mst: the guide has NaN or inf values; clean the guide first");
    cost[e] = static_cast<float>(acc[e]);
  }
}

// Stable LSD radix sort of edge indices 0..E-1 by their (non-negative, finite) float cost: ties
// keep the edge index order, so the tree is deterministic. Returns the sorted edge indices.
void sort_edges_by_cost(const float* cost, int64_t E, std::vector<int32_t>* sorted) {
  constexpr int kBits = 11, kBuckets = 1 << kBits;
  std::vector<uint32_t> key(E), key_tmp(E);
  std::vector<int32_t> idx(E), idx_tmp(E);
  for (int64_t e = 0; e < E; ++e) {
    uint32_t bits;
    std::memcpy(&bits, cost + e, sizeof(bits));  // non-negative floats order like their bits
    key[e] = bits;
    idx[e] = static_cast<int32_t>(e);
  }
  std::vector<int64_t> count(kBuckets);
  for (int shift = 0; shift < 32; shift += kBits) {
    std::fill(count.begin(), count.end(), 0);
    for (int64_t e = 0; e < E; ++e) ++count[(key[e] >> shift) & (kBuckets - 1)];
    bool single_bucket = false;
    for (int64_t c : count) {
      if (c == E) single_bucket = true;
    }
    if (single_bucket) continue;  // every key has this digit: the pass would be a copy
    int64_t sum = 0;
    for (auto& c : count) {
      const int64_t n = c;
      c = sum;
      sum += n;
    }
    for (int64_t e = 0; e < E; ++e) {
      const int64_t dst = count[(key[e] >> shift) & (kBuckets - 1)]++;
      key_tmp[dst] = key[e];
      idx_tmp[dst] = idx[e];
    }
    key.swap(key_tmp);
    idx.swap(idx_tmp);
  }
  sorted->swap(idx);
}

int32_t uf_find(int32_t* root, int32_t v) {
  while (root[v] != v) {
    root[v] = root[root[v]];  // path halving
    v = root[v];
  }
  return v;
}

// Kruskal's MST of one H x W grid; writes V - 1 edges (pairs of raster indices) to edges.
template <typename scalar_t>
void grid_mst(const scalar_t* guide, int64_t G, int64_t H, int64_t W, int32_t* edges) {
  const int64_t V = H * W;
  if (V <= 1) return;
  const GridEdges grid(H, W);
  std::vector<float> cost(grid.num_edges);
  grid_edge_costs(guide, G, grid, cost.data());
  std::vector<int32_t> sorted;
  sort_edges_by_cost(cost.data(), grid.num_edges, &sorted);
  std::vector<int32_t> root(V), rank(V, 0);
  for (int64_t v = 0; v < V; ++v) root[v] = static_cast<int32_t>(v);
  int64_t taken = 0;
  for (int64_t i = 0; i < grid.num_edges && taken < V - 1; ++i) {
    int32_t a, b;
    grid.ends(sorted[i], &a, &b);
    int32_t ra = uf_find(root.data(), a), rb = uf_find(root.data(), b);
    if (ra == rb) continue;
    if (rank[ra] < rank[rb]) std::swap(ra, rb);
    root[rb] = ra;
    if (rank[ra] == rank[rb]) ++rank[ra];
    edges[2 * taken] = a;
    edges[2 * taken + 1] = b;
    ++taken;
  }
}

at::Tensor mst_cpu(const at::Tensor& guide_in) {
  TORCH_CHECK(guide_in.dim() == 4, "tree_filter_mst: guide must be [B, G, H, W], got ",
              guide_in.sizes());
  TORCH_CHECK(guide_in.scalar_type() == at::kFloat || guide_in.scalar_type() == at::kDouble,
              "tree_filter_mst: guide must be float32 or float64, got ", guide_in.scalar_type());
  const int64_t B = guide_in.size(0), G = guide_in.size(1), H = guide_in.size(2),
                W = guide_in.size(3), V = H * W;
  TORCH_CHECK(G >= 1 && H >= 1 && W >= 1, "tree_filter_mst: guide must have G, H, W >= 1, got ",
              guide_in.sizes());
  TORCH_CHECK(V < (int64_t(1) << 30), "tree_filter_mst: grid too large (", H, " x ", W, ")");
  const at::Tensor guide = guide_in.contiguous();
  at::Tensor edges = at::empty({B, V - 1, 2}, guide.options().dtype(at::kInt));
  if (B == 0 || V == 1) return edges;
  AT_DISPATCH_FLOATING_TYPES(guide.scalar_type(), "tree_filter_mst", [&] {
    const scalar_t* g = guide.const_data_ptr<scalar_t>();
    int32_t* e = edges.mutable_data_ptr<int32_t>();
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        grid_mst(g + b * G * V, G, H, W, e + b * 2 * (V - 1));
      }
    });
  });
  return edges;
}

// ---------------------------------------------------------------------------------------------
// BFS order
// ---------------------------------------------------------------------------------------------

void tree_bfs_one(const int32_t* edges, int64_t V, int32_t* order, int32_t* parent,
                  int32_t* children, int32_t* levels) {
  std::vector<int32_t> adj(kMaxChildren * V, -1), degree(V, 0), position(V, -1), depth(V, 0);
  for (int64_t i = 0; i + 1 < V; ++i) {
    const int32_t a = edges[2 * i], b = edges[2 * i + 1];
    TORCH_CHECK(a >= 0 && a < V && b >= 0 && b < V && a != b, "tree_filter_bfs: edge (", a, ", ",
                b, ") is not a pair of distinct vertices in [0, ", V, ")");
    TORCH_CHECK(degree[a] < kMaxChildren && degree[b] < kMaxChildren,
                "tree_filter_bfs: a vertex has more than ", kMaxChildren,
                " tree neighbours; the edges must come from a 4-connected grid");
    adj[kMaxChildren * a + degree[a]++] = b;
    adj[kMaxChildren * b + degree[b]++] = a;
  }
  std::fill(children, children + kMaxChildren * V, -1);
  order[0] = 0;  // the root is vertex 0 (top-left pixel)
  parent[0] = 0;
  position[0] = 0;
  int64_t tail = 1;
  for (int64_t k = 0; k < tail; ++k) {
    const int32_t v = order[k];
    int n_children = 0;
    for (int j = 0; j < degree[v]; ++j) {
      const int32_t u = adj[kMaxChildren * v + j];
      if (position[u] >= 0) {
        TORCH_CHECK(k > 0 && position[u] == parent[k],
                    "tree_filter_bfs: the edges contain a cycle; they must form a spanning tree");
        continue;
      }
      position[u] = static_cast<int32_t>(tail);
      order[tail] = u;
      parent[tail] = static_cast<int32_t>(k);
      depth[tail] = depth[k] + 1;
      children[kMaxChildren * k + n_children++] = static_cast<int32_t>(tail);
      ++tail;
    }
  }
  TORCH_CHECK(tail == V, "tree_filter_bfs: the edges do not connect all ", V,
              " vertices; they must form a spanning tree");
  // levels[d] = first BFS position at depth d; V for every depth past the deepest.
  std::fill(levels, levels + V + 1, static_cast<int32_t>(V));
  for (int64_t k = V - 1; k >= 0; --k) levels[depth[k]] = static_cast<int32_t>(k);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> bfs_cpu(const at::Tensor& edges_in,
                                                                   int64_t V) {
  TORCH_CHECK(edges_in.dim() == 3 && edges_in.size(1) == V - 1 && edges_in.size(2) == 2,
              "tree_filter_bfs: edges must be [B, V - 1, 2] with V = ", V, ", got ",
              edges_in.sizes());
  TORCH_CHECK(edges_in.scalar_type() == at::kInt, "tree_filter_bfs: edges must be int32");
  TORCH_CHECK(V >= 1 && V < (int64_t(1) << 30), "tree_filter_bfs: bad vertex count ", V);
  const at::Tensor edges = edges_in.contiguous();
  const int64_t B = edges.size(0);
  const auto opts = edges.options();
  at::Tensor order = at::empty({B, V}, opts), parent = at::empty({B, V}, opts),
             children = at::empty({B, V, kMaxChildren}, opts),
             levels = at::empty({B, V + 1}, opts);
  const int32_t* e = edges.const_data_ptr<int32_t>();
  int32_t *o = order.mutable_data_ptr<int32_t>(), *p = parent.mutable_data_ptr<int32_t>(),
          *c = children.mutable_data_ptr<int32_t>(), *l = levels.mutable_data_ptr<int32_t>();
  at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      tree_bfs_one(e + b * 2 * (V - 1), V, o + b * V, p + b * V, c + b * kMaxChildren * V,
                   l + b * (V + 1));
    }
  });
  return {order, parent, children, levels};
}

// ---------------------------------------------------------------------------------------------
// Filter
// ---------------------------------------------------------------------------------------------

// Products of many edge weights underflow into denormal numbers, whose arithmetic is ~100x
// slower on x86. Within the filter loops, flush them to zero (FTZ + DAZ) on the calling thread:
// they are < 1.2e-38 while the outputs are ratios with a normaliser >= 1.
class FlushDenormalGuard {
 public:
#ifdef BOX2MASK_HAS_MXCSR
  FlushDenormalGuard() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }
  ~FlushDenormalGuard() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#endif
};

// Pointers to the tree of one image.
struct TreeView {
  const int32_t *order, *parent, *children;
};

TreeView tree_view(const at::Tensor& order, const at::Tensor& parent, const at::Tensor& children,
                   int64_t b, int64_t V) {
  return {order.const_data_ptr<int32_t>() + b * V, parent.const_data_ptr<int32_t>() + b * V,
          children.const_data_ptr<int32_t>() + b * kMaxChildren * V};
}

// Leaf -> root pass up = tree_up(src) in its scatter form (fewer loads than gathering from the
// children; same sums, children added in decreasing position order before x_k).
template <typename scalar_t, typename Src>
void up_pass(const TreeView& t, int64_t V, const scalar_t* w, Src src, scalar_t* up) {
  std::fill(up, up + V, scalar_t(0));
  for (int64_t k = V - 1; k > 0; --k) {
    up[k] += src(k);
    tree_up_push<scalar_t>(static_cast<int>(k), up, w, t.parent);
  }
  up[0] += src(0);
}

// Root -> leaf pass down = tree_down(up); visit(k) runs once down[k] is final.
template <typename scalar_t, typename Visit>
void down_pass(const TreeView& t, int64_t V, const scalar_t* w, const scalar_t* up,
               scalar_t* down, Visit visit) {
  for (int64_t k = 0; k < V; ++k) {
    down[k] = tree_down_value<scalar_t>(static_cast<int>(k), up[k], down, w, t.parent);
    visit(k);
  }
}

void check_image_index(const at::Tensor& image_index, int64_t B) {
  const int64_t* idx = image_index.const_data_ptr<int64_t>();
  for (int64_t n = 0; n < image_index.size(0); ++n) {
    TORCH_CHECK(idx[n] >= 0 && idx[n] < B, "tree_filter: image_index[", n, "] = ", idx[n],
                " is not in [0, ", B, ")");
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cpu(
    const at::Tensor& x_in, const at::Tensor& weight_in, const at::Tensor& order_in,
    const at::Tensor& parent_in, const at::Tensor& children_in, const at::Tensor& levels_in,
    const at::Tensor& image_index_in, bool save_passes) {
  check_filter_inputs(x_in, weight_in, image_index_in);
  const int64_t N = x_in.size(0), C = x_in.size(1), V = x_in.size(2), B = weight_in.size(0);
  check_tree(order_in, parent_in, children_in, levels_in, B, V, x_in.device());
  const at::Tensor x = x_in.contiguous(), weight = weight_in.contiguous(),
                   order = order_in.contiguous(), parent = parent_in.contiguous(),
                   children = children_in.contiguous(), image_index = image_index_in.contiguous();
  check_image_index(image_index, B);
  at::Tensor out = at::empty_like(x), norm = at::empty_like(weight);
  at::Tensor passes = at::empty({save_passes ? N : 0, C, 2, V}, x.options());
  if (V == 0) return {out, norm, passes};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "tree_filter_forward", [&] {
    const scalar_t* w_all = weight.const_data_ptr<scalar_t>();
    scalar_t* z_all = norm.mutable_data_ptr<scalar_t>();
    // Normaliser Z: the filter of x = 1, once per image.
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      FlushDenormalGuard flush_denormals;
      std::vector<scalar_t> up(V);
      for (int64_t b = begin; b < end; ++b) {
        const TreeView t = tree_view(order, parent, children, b, V);
        up_pass(t, V, w_all + b * V, [](int64_t) { return scalar_t(1); }, up.data());
        down_pass(t, V, w_all + b * V, up.data(), z_all + b * V, [](int64_t) {});
      }
    });
    const scalar_t* x_all = x.const_data_ptr<scalar_t>();
    scalar_t* out_all = out.mutable_data_ptr<scalar_t>();
    scalar_t* passes_all = save_passes ? passes.mutable_data_ptr<scalar_t>() : nullptr;
    const int64_t* idx = image_index.const_data_ptr<int64_t>();
    at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
      FlushDenormalGuard flush_denormals;
      std::vector<scalar_t> buffer(save_passes ? 0 : 2 * V);
      for (int64_t nc = begin; nc < end; ++nc) {
        const int64_t b = idx[nc / C];
        const TreeView t = tree_view(order, parent, children, b, V);
        const scalar_t *w = w_all + b * V, *z = z_all + b * V, *xs = x_all + nc * V;
        scalar_t* o = out_all + nc * V;
        scalar_t* up = save_passes ? passes_all + 2 * nc * V : buffer.data();
        scalar_t* down = up + V;
        up_pass(t, V, w, [&](int64_t k) { return xs[t.order[k]]; }, up);
        down_pass(t, V, w, up, down, [&](int64_t k) { o[t.order[k]] = down[k] / z[k]; });
      }
    });
  });
  return {out, norm, passes};
}

std::tuple<at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_out_in, const at::Tensor& norm_in, const at::Tensor& passes_in,
    const at::Tensor& weight_in, const at::Tensor& order_in, const at::Tensor& parent_in,
    const at::Tensor& children_in, const at::Tensor& levels_in, const at::Tensor& image_index_in,
    bool weight_grad) {
  check_filter_inputs(grad_out_in, weight_in, image_index_in);
  const int64_t N = grad_out_in.size(0), C = grad_out_in.size(1), V = grad_out_in.size(2),
                B = weight_in.size(0);
  check_tree(order_in, parent_in, children_in, levels_in, B, V, grad_out_in.device());
  check_backward_inputs(grad_out_in, norm_in, passes_in, weight_in, weight_grad);
  const at::Tensor grad_out = grad_out_in.contiguous(), norm = norm_in.contiguous(),
                   weight = weight_in.contiguous(), order = order_in.contiguous(),
                   parent = parent_in.contiguous(), children = children_in.contiguous(),
                   image_index = image_index_in.contiguous();
  check_image_index(image_index, B);
  at::Tensor grad_x = at::empty_like(grad_out);
  at::Tensor grad_weight = at::zeros_like(weight);
  if (N == 0 || V == 0) return {grad_x, grad_weight};
  const at::Tensor passes = weight_grad ? passes_in.contiguous() : passes_in;
  // Per instance: its dL/dw (without the normaliser's share) and dL/dZ.
  at::Tensor grad_w_inst = weight_grad ? at::zeros({N, V}, weight.options()) : at::Tensor();
  at::Tensor grad_z_inst = weight_grad ? at::zeros({N, V}, weight.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(grad_out.scalar_type(), "tree_filter_backward", [&] {
    const scalar_t *w_all = weight.const_data_ptr<scalar_t>(),
                   *z_all = norm.const_data_ptr<scalar_t>(),
                   *go_all = grad_out.const_data_ptr<scalar_t>();
    const scalar_t* passes_all = weight_grad ? passes.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* gx_all = grad_x.mutable_data_ptr<scalar_t>();
    scalar_t* gwi_all = weight_grad ? grad_w_inst.mutable_data_ptr<scalar_t>() : nullptr;
    scalar_t* gzi_all = weight_grad ? grad_z_inst.mutable_data_ptr<scalar_t>() : nullptr;
    const int64_t* idx = image_index.const_data_ptr<int64_t>();
    at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
      FlushDenormalGuard flush_denormals;
      std::vector<scalar_t> gup(V), gdown(V), inv_z(V);
      for (int64_t n = begin; n < end; ++n) {
        const int64_t b = idx[n];
        const TreeView t = tree_view(order, parent, children, b, V);
        const int32_t *o = t.order, *par = t.parent;
        const scalar_t *w = w_all + b * V, *z = z_all + b * V;
        for (int64_t k = 0; k < V; ++k) inv_z[k] = scalar_t(1) / z[k];
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* go = go_all + (n * C + c) * V;
          scalar_t* gx = gx_all + (n * C + c) * V;
          // dL/dA = grad_out / Z (G, D: its passes); dL/dx = D = tree_down(tree_up(dL/dA)).
          up_pass(t, V, w, [&](int64_t k) { return go[o[k]] * inv_z[k]; }, gup.data());
          if (!weight_grad) {
            down_pass(t, V, w, gup.data(), gdown.data(), [&](int64_t k) { gx[o[k]] = gdown[k]; });
            continue;
          }
          // With the forward's passes U, A of x: the weight gradient at position k needs A
          // and D of its parent only, which are final when k is reached.
          const scalar_t* up = passes_all + 2 * (n * C + c) * V;
          const scalar_t* down = up + V;
          scalar_t *gw = gwi_all + n * V, *gz = gzi_all + n * V;
          gdown[0] = gup[0];
          gx[o[0]] = gdown[0];
          gz[0] -= go[o[0]] * down[0] * inv_z[0] * inv_z[0];
          for (int64_t k = 1; k < V; ++k) {
            gdown[k] = tree_down_value<scalar_t>(int(k), gup[k], gdown.data(), w, par);
            gx[o[k]] = gdown[k];
            gz[k] -= go[o[k]] * down[k] * inv_z[k] * inv_z[k];  // dL/dZ = -sum_c dL/dA_c A_c / Z
            gw[k] += tree_weight_grad_value<scalar_t>(int(k), up, down, gup.data(), gdown.data(),
                                                      w, par);
          }
        }
      }
    });
    if (!weight_grad) return;
    // Per image, in instance order (deterministic): the instances' dL/dw, plus the normaliser's
    // share, linear in dL/dZ, so one pass of the summed dL/dZ of the image's instances.
    scalar_t* gw_all = grad_weight.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      FlushDenormalGuard flush_denormals;
      std::vector<scalar_t> gz(V), uz(V), gup(V), gdown(V);
      for (int64_t b = begin; b < end; ++b) {
        std::fill(gz.begin(), gz.end(), scalar_t(0));
        scalar_t* gw = gw_all + b * V;
        bool any = false;
        for (int64_t n = 0; n < N; ++n) {
          if (idx[n] != b) continue;
          any = true;
          const scalar_t *gwi = gwi_all + n * V, *gzi = gzi_all + n * V;
          for (int64_t k = 0; k < V; ++k) {
            gw[k] += gwi[k];
            gz[k] += gzi[k];
          }
        }
        if (!any) continue;
        const TreeView t = tree_view(order, parent, children, b, V);
        const scalar_t *w = w_all + b * V, *z = z_all + b * V;
        up_pass(t, V, w, [](int64_t) { return scalar_t(1); }, uz.data());
        up_pass(t, V, w, [&](int64_t k) { return gz[k]; }, gup.data());
        gdown[0] = gup[0];
        for (int64_t k = 1; k < V; ++k) {
          gdown[k] = tree_down_value<scalar_t>(int(k), gup[k], gdown.data(), w, t.parent);
          gw[k] += tree_weight_grad_value<scalar_t>(int(k), uz.data(), z, gup.data(),
                                                    gdown.data(), w, t.parent);
        }
      }
    });
  });
  return {grad_x, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(box2mask, CPU, m) {
  m.impl("tree_filter_mst", &mst_cpu);
  m.impl("tree_filter_bfs", &bfs_cpu);
  m.impl("tree_filter_forward", &forward_cpu);
  m.impl("tree_filter_backward", &backward_cpu);
}

}  // namespace tree_filter
}  // namespace box2mask
