// The box2mask op library: every op schema is declared here, once. Kernels are registered
// per dispatch key in each op's folder (<op>_cpu.cpp with CPU, <op>_cuda.cu with CUDA).
#include <torch/extension.h>

TORCH_LIBRARY(box2mask, m) {
  // --- level-set energy (levelset/) ---
  // probs [N, h, w], targets [M, C, h, w], boxes [N, 4] long (x0, y0, x1, y1; exclusive ends),
  // target_index [N] long -> energy [N], stats [N, 2 + 2C] double (Σf, Σb, Σfu_c, Σbu_c).
  m.def(
      "region_levelset_energy_forward(Tensor probs, Tensor targets, Tensor boxes, "
      "Tensor target_index, float length_weight) -> (Tensor, Tensor)");
  // -> grad_probs [N, h, w], grad_targets [M, C, h, w].
  m.def(
      "region_levelset_energy_backward(Tensor grad_energy, Tensor probs, Tensor targets, "
      "Tensor boxes, Tensor target_index, Tensor stats, float length_weight) -> (Tensor, Tensor)");
  // Explicit Chan–Vese evolution from boxes (CPU): image [C, H, W], boxes [N, 4] long
  // (exclusive ends) -> masks [N, H, W] bool.
  m.def(
      "evolve_levelset(Tensor image, Tensor boxes, int steps, int margin, float dt, float mu, "
      "float epsilon) -> Tensor");

  // --- tree filter (tree_filter/) ---
  // MST of the 4-connected grid of guide [B, G, H, W] (squared L2 cost): edges [B, V-1, 2] int32.
  m.def("tree_filter_mst(Tensor guide) -> Tensor");
  // BFS from vertex 0 of each tree: (order, parent, children, levels), int32, BFS order.
  m.def("tree_filter_bfs(Tensor edges, int num_vertices) -> (Tensor, Tensor, Tensor, Tensor)");
  // Filter x [N, C, V] along tree image_index[n] with edge weights [B, V]:
  // (out, norm [B, V], passes [N, C, 2, V] if save_passes else [0, C, 2, V]).
  m.def(
      "tree_filter_forward(Tensor x, Tensor weight, Tensor order, Tensor parent, "
      "Tensor children, Tensor levels, Tensor image_index, bool save_passes) "
      "-> (Tensor, Tensor, Tensor)");
  // Gradients (grad_x, grad_weight); grad_weight is zeros unless weight_grad (needs passes).
  m.def(
      "tree_filter_backward(Tensor grad_out, Tensor norm, Tensor passes, Tensor weight, "
      "Tensor order, Tensor parent, Tensor children, Tensor levels, Tensor image_index, "
      "bool weight_grad) -> (Tensor, Tensor)");

  // --- multi-scale deformable attention (ms_deform_attn/) ---
  // value [B, S, M, D], spatial_shapes [L, 2] long, level_start_index [L] long,
  // sampling_locations [B, Q, M, L, P, 2], attention_weights [B, Q, M, L, P] -> [B, Q, M*D]
  m.def(
      "ms_deform_attn_forward(Tensor value, Tensor spatial_shapes, Tensor level_start_index, "
      "Tensor sampling_locations, Tensor attention_weights) -> Tensor");
  // -> (grad_value, grad_sampling_locations, grad_attention_weights)
  m.def(
      "ms_deform_attn_backward(Tensor value, Tensor spatial_shapes, Tensor level_start_index, "
      "Tensor sampling_locations, Tensor attention_weights, Tensor grad_output) "
      "-> (Tensor, Tensor, Tensor)");
}

namespace {
bool cuda_built() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}
}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("cuda_built", &cuda_built, "Whether the CUDA kernels were compiled into this build.");
}
