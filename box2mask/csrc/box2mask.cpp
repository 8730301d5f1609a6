// The box2mask op library: every op schema is declared here, once. Kernels are registered
// per dispatch key in each op's folder (<op>_cpu.cpp with CPU, <op>_cuda.cu with CUDA).
#include <torch/extension.h>

TORCH_LIBRARY(box2mask, m) {
  // --- level-set energy (levelset/) ---

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
