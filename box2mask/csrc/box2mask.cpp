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
