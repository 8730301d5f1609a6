// Host-side argument checks of the tree-filter ops, shared by the CPU and CUDA entry points.
#pragma once

#include <torch/extension.h>

namespace box2mask {
namespace tree_filter {

// Checks the BFS-ordered tree tensors of B trees over V vertices (see tree_filter_kernel.h).
inline void check_tree(const at::Tensor& order, const at::Tensor& parent,
                       const at::Tensor& children, const at::Tensor& levels, int64_t B,
                       int64_t V, const at::Device& device) {
  for (const auto* t : {&order, &parent, &children, &levels}) {
    TORCH_CHECK(t->scalar_type() == at::kInt,
                "tree_filter: the tree tensors (order, parent, children, levels) must be int32 "
                "as returned by tree_filter_bfs, got ",
                t->scalar_type());
    TORCH_CHECK(t->device() == device, "tree_filter: the tree is on ", t->device(),
                " but the features are on ", device, "; move the tree with the features");
  }
  TORCH_CHECK(order.dim() == 2 && order.size(0) == B && order.size(1) == V,
              "tree_filter: order must be [B, V] = [", B, ", ", V, "], got ", order.sizes());
  TORCH_CHECK(parent.sizes() == order.sizes(), "tree_filter: parent must be [B, V] = [", B, ", ",
              V, "], got ", parent.sizes());
  TORCH_CHECK(children.dim() == 3 && children.size(0) == B && children.size(1) == V &&
                  children.size(2) == 4,
              "tree_filter: children must be [B, V, 4] = [", B, ", ", V, ", 4], got ",
              children.sizes());
  TORCH_CHECK(levels.dim() == 2 && levels.size(0) == B && levels.size(1) == V + 1,
              "tree_filter: levels must be [B, V + 1] = [", B, ", ", V + 1, "], got ",
              levels.sizes());
}

// Checks the features x [N, C, V], the edge weights [B, V] and the image index [N].
inline void check_filter_inputs(const at::Tensor& x, const at::Tensor& weight,
                                const at::Tensor& image_index) {
  TORCH_CHECK(x.dim() == 3, "tree_filter: x must be [N, C, V], got ", x.sizes());
  TORCH_CHECK(weight.dim() == 2, "tree_filter: weight must be [B, V], got ", weight.sizes());
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(),
              "tree_filter: x and weight must have the same dtype, got ", x.scalar_type(),
              " and ", weight.scalar_type());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "tree_filter: x must be float32 or float64 (cast half precision to float32), got ",
              x.scalar_type());
  TORCH_CHECK(x.size(2) == weight.size(1), "tree_filter: x has ", x.size(2),
              " vertices but weight has ", weight.size(1));
  TORCH_CHECK(x.size(2) < (int64_t(1) << 30), "tree_filter: too many vertices (", x.size(2),
              ")");
  TORCH_CHECK(image_index.dim() == 1 && image_index.size(0) == x.size(0),
              "tree_filter: image_index must be [N] with N = x.size(0) = ", x.size(0), ", got ",
              image_index.sizes());
  TORCH_CHECK(image_index.scalar_type() == at::kLong, "tree_filter: image_index must be int64");
  TORCH_CHECK(weight.device() == x.device() && image_index.device() == x.device(),
              "tree_filter: x, weight and image_index must be on one device, got ", x.device(),
              ", ", weight.device(), ", ", image_index.device());
}

// Checks the backward's inputs against grad_out [N, C, V] and weight [B, V].
inline void check_backward_inputs(const at::Tensor& grad_out, const at::Tensor& norm,
                                  const at::Tensor& passes, const at::Tensor& weight,
                                  bool weight_grad) {
  TORCH_CHECK(norm.sizes() == weight.sizes() && norm.scalar_type() == weight.scalar_type() &&
                  norm.device() == weight.device(),
              "tree_filter_backward: norm must be the forward's [B, V] normaliser");
  if (!weight_grad) return;
  const int64_t N = grad_out.size(0), C = grad_out.size(1), V = grad_out.size(2);
  TORCH_CHECK(passes.dim() == 4 && passes.size(0) == N && passes.size(1) == C &&
                  passes.size(2) == 2 && passes.size(3) == V &&
                  passes.scalar_type() == grad_out.scalar_type() &&
                  passes.device() == grad_out.device(),
              "tree_filter_backward: the weight gradient needs the forward's passes [N, C, 2, V] "
              "(call tree_filter_forward with save_passes=True), got ",
              passes.sizes());
}

}  // namespace tree_filter
}  // namespace box2mask
