// Host-side argument checks of the multi-scale deformable attention kernels (CPU and CUDA).
#pragma once

#include <ATen/ATen.h>

namespace box2mask {
namespace msda {

// Sizes of one call; see the glossary in ms_deform_attn_kernel.h.
struct Sizes {
  int64_t B, S, M, D, Q, L, P;
};

// Checks ranks, sizes, dtypes and devices; returns the sizes. `grad_output` may be undefined
// (forward). Level sizes against S are checked by the Python front end.
inline Sizes check_inputs(const at::Tensor& value, const at::Tensor& spatial_shapes,
                          const at::Tensor& level_start_index,
                          const at::Tensor& sampling_locations,
                          const at::Tensor& attention_weights, const at::Tensor& grad_output,
                          const char* name) {
  TORCH_CHECK(value.dim() == 4, name, ": value must be [B, S, M, D], got ", value.sizes());
  TORCH_CHECK(spatial_shapes.dim() == 2 && spatial_shapes.size(1) == 2, name,
              ": spatial_shapes must be [L, 2] (H_l, W_l), got ", spatial_shapes.sizes());
  const int64_t L = spatial_shapes.size(0);
  TORCH_CHECK(level_start_index.dim() == 1 && level_start_index.size(0) == L, name,
              ": level_start_index must be [L] with L = ", L, ", got ",
              level_start_index.sizes());
  TORCH_CHECK(spatial_shapes.scalar_type() == at::kLong &&
                  level_start_index.scalar_type() == at::kLong,
              name, ": spatial_shapes and level_start_index must be int64 (torch.long), got ",
              spatial_shapes.scalar_type(), " and ", level_start_index.scalar_type());
  Sizes s{value.size(0), value.size(1), value.size(2), value.size(3), 0, L, 0};
  TORCH_CHECK(sampling_locations.dim() == 6, name,
              ": sampling_locations must be [B, Q, M, L, P, 2], got ", sampling_locations.sizes());
  s.Q = sampling_locations.size(1);
  s.P = sampling_locations.size(4);
  TORCH_CHECK(sampling_locations.size(0) == s.B && sampling_locations.size(2) == s.M &&
                  sampling_locations.size(3) == L && sampling_locations.size(5) == 2,
              name, ": sampling_locations must be [B, Q, M, L, P, 2] = [", s.B, ", Q, ", s.M,
              ", ", L, ", P, 2] to match value [B, S, M, D] and spatial_shapes [L, 2], got ",
              sampling_locations.sizes());
  TORCH_CHECK(attention_weights.sizes() ==
                  at::IntArrayRef({s.B, s.Q, s.M, s.L, s.P}),
              name, ": attention_weights must be [B, Q, M, L, P] = [", s.B, ", ", s.Q, ", ", s.M,
              ", ", s.L, ", ", s.P, "], got ", attention_weights.sizes());
  TORCH_CHECK(sampling_locations.scalar_type() == value.scalar_type() &&
                  attention_weights.scalar_type() == value.scalar_type(),
              name, ": value, sampling_locations and attention_weights must share one dtype, got ",
              value.scalar_type(), ", ", sampling_locations.scalar_type(), ", ",
              attention_weights.scalar_type());
  const auto device = value.device();
  TORCH_CHECK(spatial_shapes.device() == device && level_start_index.device() == device &&
                  sampling_locations.device() == device && attention_weights.device() == device,
              name, ": all inputs must be on one device (value is on ", device, ")");
  if (grad_output.defined()) {
    TORCH_CHECK(grad_output.sizes() == at::IntArrayRef({s.B, s.Q, s.M * s.D}), name,
                ": grad_output must be [B, Q, M*D] = [", s.B, ", ", s.Q, ", ", s.M * s.D,
                "], got ", grad_output.sizes());
    TORCH_CHECK(grad_output.scalar_type() == value.scalar_type() &&
                    grad_output.device() == device,
                name, ": grad_output must have value's dtype and device");
  }
  return s;
}

}  // namespace msda
}  // namespace box2mask
