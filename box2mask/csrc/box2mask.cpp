// The box2mask op library: every op schema is declared here, once. Kernels are registered
// per dispatch key in each op's folder (<op>_cpu.cpp with CPU, <op>_cuda.cu with CUDA).
#include <torch/extension.h>

TORCH_LIBRARY(box2mask, m) {
  // --- level-set energy (levelset/) ---

  // --- tree filter (tree_filter/) ---

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
