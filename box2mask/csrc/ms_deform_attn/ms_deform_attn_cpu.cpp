// Multi-scale deformable attention: CPU kernels (float32, float64).
//
// Forward: parallel over (batch x query); each task writes only its own output rows.
// Backward: the value gradient is a scatter (many queries sample one position), so the work is
// split into tasks that never write the same memory, with no atomics and no locks:
//   * a task owns one (batch, head) pair, and within it a contiguous chunk of queries;
//     different (batch, head) pairs touch disjoint slices grad_value[b, :, m, :];
//   * when there are more threads than B * M pairs, the queries of each pair are split into K
//     chunks, chunk k accumulating into its own zeroed copy of grad_value (k = 0 into the
//     output itself), and the K copies are summed at the end.
// For a fixed thread count the summation order is fixed, so results are deterministic.
// The location and attention-weight gradients of a point are written by the one task that
// owns its (batch, head, query), so they need no reduction.
#include <ATen/Parallel.h>
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>

#include "ms_deform_attn/ms_deform_attn_checks.h"
#include "ms_deform_attn/ms_deform_attn_kernel.h"

namespace box2mask {
namespace {

using msda::Corners;
using msda::Sizes;

template <typename T>
void forward_kernel(const T* value, const int64_t* shapes, const int64_t* starts, const T* loc,
                    const T* attn, T* out, const Sizes& s) {
  const int64_t stride = s.M * s.D;  // between consecutive value positions
  // Aim for tasks of ~ 2^14 multiply-adds.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.M * s.L * s.P * s.D));
  at::parallel_for(0, s.B * s.Q, grain, [&](int64_t begin, int64_t end) {
    for (int64_t bq = begin; bq < end; ++bq) {
      const int64_t b = bq / s.Q;
      const T* value_b = value + b * s.S * stride;
      for (int64_t m = 0; m < s.M; ++m) {
        const int64_t bqm = bq * s.M + m;
        T* o = out + bqm * s.D;
        std::fill(o, o + s.D, T(0));
        const T* loc_p = loc + bqm * s.L * s.P * 2;
        const T* attn_p = attn + bqm * s.L * s.P;
        for (int64_t l = 0; l < s.L; ++l) {
          const int64_t H = shapes[2 * l], W = shapes[2 * l + 1];
          const T* v = value_b + starts[l] * stride + m * s.D;
          for (int64_t p = 0; p < s.P; ++p, loc_p += 2, ++attn_p) {
            Corners<T> c;
            if (msda::bilinear_corners(loc_p[0], loc_p[1], H, W, c)) {
              msda::forward_point(v, stride, s.D, c, *attn_p, o);
            }
          }
        }
      }
    }
  });
}

template <typename T>
void backward_kernel(const T* value, const int64_t* shapes, const int64_t* starts, const T* loc,
                     const T* attn, const T* grad_out, T* grad_value, T* grad_value_extra,
                     int64_t chunks, T* grad_loc, T* grad_attn, const Sizes& s) {
  const int64_t stride = s.M * s.D;
  const int64_t value_numel = s.B * s.S * stride;
  const int64_t chunk_q = (s.Q + chunks - 1) / chunks;
  auto add = [](T* dst, T v) { *dst += v; };
  at::parallel_for(0, s.B * s.M * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t k = task % chunks;
      const int64_t bm = task / chunks;
      const int64_t b = bm / s.M, m = bm % s.M;
      T* gv_b = (k == 0 ? grad_value : grad_value_extra + (k - 1) * value_numel) +
                b * s.S * stride + m * s.D;
      const T* value_b = value + b * s.S * stride + m * s.D;
      const int64_t q_end = std::min(s.Q, (k + 1) * chunk_q);
      for (int64_t q = k * chunk_q; q < q_end; ++q) {
        const int64_t bqm = (b * s.Q + q) * s.M + m;
        const T* g = grad_out + bqm * s.D;
        const T* loc_p = loc + bqm * s.L * s.P * 2;
        const T* attn_p = attn + bqm * s.L * s.P;
        T* gloc_p = grad_loc + bqm * s.L * s.P * 2;
        T* gattn_p = grad_attn + bqm * s.L * s.P;
        for (int64_t l = 0; l < s.L; ++l) {
          const int64_t H = shapes[2 * l], W = shapes[2 * l + 1];
          const int64_t start = starts[l] * stride;
          for (int64_t p = 0; p < s.P; ++p, loc_p += 2, ++attn_p, gloc_p += 2, ++gattn_p) {
            Corners<T> c;
            if (msda::bilinear_corners(loc_p[0], loc_p[1], H, W, c)) {
              msda::backward_point(value_b + start, gv_b + start, stride, s.D, g, c, *attn_p,
                                   add, gattn_p, gloc_p, gloc_p + 1);
            } else {
              *gattn_p = T(0);
              gloc_p[0] = T(0);
              gloc_p[1] = T(0);
            }
          }
        }
      }
    }
  });
}

// Host copies of the level geometry, checked against S.
void check_levels(const at::Tensor& shapes, const at::Tensor& starts, int64_t S) {
  const int64_t* sh = shapes.data_ptr<int64_t>();
  const int64_t* st = starts.data_ptr<int64_t>();
  for (int64_t l = 0; l < shapes.size(0); ++l) {
    TORCH_CHECK(sh[2 * l] >= 0 && sh[2 * l + 1] >= 0 && st[l] >= 0 &&
                    st[l] + sh[2 * l] * sh[2 * l + 1] <= S,
                "ms_deform_attn: level ", l, " (H=", sh[2 * l], ", W=", sh[2 * l + 1],
                ", start=", st[l], ") does not fit in value's S=", S, " positions");
  }
}

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value_, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index,
                                      const at::Tensor& sampling_locations,
                                      const at::Tensor& attention_weights) {
  const Sizes s = msda::check_inputs(value_, spatial_shapes, level_start_index,
                                     sampling_locations, attention_weights, at::Tensor(),
                                     "ms_deform_attn_forward");
  TORCH_CHECK(value_.scalar_type() == at::kFloat || value_.scalar_type() == at::kDouble,
              "ms_deform_attn_forward (CPU): dtype must be float32 or float64, got ",
              value_.scalar_type());
  const auto shapes = spatial_shapes.contiguous();
  const auto starts = level_start_index.contiguous();
  check_levels(shapes, starts, s.S);
  const auto value = value_.contiguous();
  const auto loc = sampling_locations.contiguous();
  const auto attn = attention_weights.contiguous();
  auto out = at::empty({s.B, s.Q, s.M * s.D}, value.options());
  if (out.numel() == 0) {
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_forward_cpu", [&] {
    forward_kernel<scalar_t>(value.data_ptr<scalar_t>(), shapes.data_ptr<int64_t>(),
                             starts.data_ptr<int64_t>(), loc.data_ptr<scalar_t>(),
                             attn.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), s);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cpu(
    const at::Tensor& value_, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights, const at::Tensor& grad_output) {
  const Sizes s = msda::check_inputs(value_, spatial_shapes, level_start_index,
                                     sampling_locations, attention_weights, grad_output,
                                     "ms_deform_attn_backward");
  TORCH_CHECK(value_.scalar_type() == at::kFloat || value_.scalar_type() == at::kDouble,
              "ms_deform_attn_backward (CPU): dtype must be float32 or float64, got ",
              value_.scalar_type());
  const auto shapes = spatial_shapes.contiguous();
  const auto starts = level_start_index.contiguous();
  check_levels(shapes, starts, s.S);
  const auto value = value_.contiguous();
  const auto loc = sampling_locations.contiguous();
  const auto attn = attention_weights.contiguous();
  const auto grad_out = grad_output.contiguous();
  auto grad_value = at::zeros_like(value);
  auto grad_loc = at::zeros_like(loc);
  auto grad_attn = at::zeros_like(attn);
  if (s.B * s.Q * s.M == 0 || value.numel() == 0) {
    return {grad_value, grad_loc, grad_attn};
  }
  // More threads than (batch, head) pairs: split the queries too (see the top of the file),
  // keeping at least 64 queries per chunk.
  const int64_t pairs = s.B * s.M;
  const int64_t threads = at::get_num_threads();
  int64_t chunks = (threads + pairs - 1) / pairs;
  chunks = std::max<int64_t>(1, std::min(chunks, s.Q / 64));
  at::Tensor extra;
  if (chunks > 1) {
    extra = at::zeros({chunks - 1, s.B, s.S, s.M, s.D}, value.options());
  }
  AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_backward_cpu", [&] {
    backward_kernel<scalar_t>(value.data_ptr<scalar_t>(), shapes.data_ptr<int64_t>(),
                              starts.data_ptr<int64_t>(), loc.data_ptr<scalar_t>(),
                              attn.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
                              grad_value.data_ptr<scalar_t>(),
                              chunks > 1 ? extra.data_ptr<scalar_t>() : nullptr, chunks,
                              grad_loc.data_ptr<scalar_t>(), grad_attn.data_ptr<scalar_t>(), s);
  });
  if (chunks > 1) {
    grad_value.add_(extra.sum(0));
  }
  return {grad_value, grad_loc, grad_attn};
}

}  // namespace

TORCH_LIBRARY_IMPL(box2mask, CPU, m) {
  m.impl("ms_deform_attn_forward", &ms_deform_attn_forward_cpu);
  m.impl("ms_deform_attn_backward", &ms_deform_attn_backward_cpu);
}

}  // namespace box2mask
