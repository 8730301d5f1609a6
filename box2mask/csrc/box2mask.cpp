// The box2mask op library: every op schema is declared here, once. Kernels are registered
// per dispatch key in each op's folder (<op>_cpu.cpp with CPU, <op>_cuda.cu with CUDA).
#include <torch/extension.h>

TORCH_LIBRARY(box2mask, m) {
  // --- level-set energy (levelset/) ---

  // --- tree filter (tree_filter/) ---

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
