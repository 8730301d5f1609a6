// Multi-scale deformable attention: CUDA kernels (float32, float64).
//
// Forward: one thread per output element (batch, query, head, channel), so that neighbouring
// threads read neighbouring channels of one value row.
// Backward: one thread per sampling point (batch, query, head, level, point), looping over the
// channels with the same per-point function as the CPU (ms_deform_attn_kernel.h). The value
// gradient is a scatter and uses atomicAdd; the location and attention-weight gradients of a
// point belong to its one thread and are written without atomics.
// The level geometry is read on the device; the Python front end checks that the levels fit
// in S (a host-side check here would synchronise the stream).
// c10 headers only: ATen/cuda/CUDAContext.h would pull in the cuSPARSE/cuBLAS headers, which a
// minimal CUDA toolkit lacks.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>

#include "ms_deform_attn/ms_deform_attn_checks.h"
#include "ms_deform_attn/ms_deform_attn_kernel.h"

namespace box2mask {
namespace {

using msda::Corners;

constexpr int kThreads = 256;

inline int num_blocks(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
}

// *dst += v from many threads at once.
struct AtomicAdd {
  template <typename T>
  HOST_DEVICE_INLINE void operator()(T* dst, T v) const {
#if defined(__CUDA_ARCH__)
    atomicAdd(dst, v);
#else
    *dst += v;
#endif
  }
};

template <typename T>
__global__ void forward_kernel(int64_t n, const T* __restrict__ value,
                               const int64_t* __restrict__ shapes,
                               const int64_t* __restrict__ starts, const T* __restrict__ loc,
                               const T* __restrict__ attn, T* __restrict__ out, int64_t S,
                               int64_t M, int64_t D, int64_t Q, int64_t L, int64_t P) {
  const int64_t stride = M * D;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t d = i % D;
    const int64_t bqm = i / D;
    const int64_t m = bqm % M;
    const int64_t b = bqm / (Q * M);
    const T* value_bm = value + b * S * stride + m * D + d;
    const T* loc_p = loc + bqm * L * P * 2;
    const T* attn_p = attn + bqm * L * P;
    T acc = T(0);
    for (int64_t l = 0; l < L; ++l) {
      const int64_t H = shapes[2 * l], W = shapes[2 * l + 1];
      const T* v = value_bm + starts[l] * stride;
      for (int64_t p = 0; p < P; ++p, loc_p += 2, ++attn_p) {
        Corners<T> c;
        if (msda::bilinear_corners(loc_p[0], loc_p[1], H, W, c)) {
          acc += *attn_p * msda::sample_channel(v, stride, c);
        }
      }
    }
    out[i] = acc;
  }
}

template <typename T>
__global__ void backward_kernel(int64_t n, const T* __restrict__ value,
                                const int64_t* __restrict__ shapes,
                                const int64_t* __restrict__ starts, const T* __restrict__ loc,
                                const T* __restrict__ attn, const T* __restrict__ grad_out,
                                T* grad_value, T* __restrict__ grad_loc,
                                T* __restrict__ grad_attn, int64_t S, int64_t M, int64_t D,
                                int64_t Q, int64_t L, int64_t P) {
  const int64_t stride = M * D;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t l = (i / P) % L;
    const int64_t bqm = i / (L * P);
    const int64_t m = bqm % M;
    const int64_t b = bqm / (Q * M);
    Corners<T> c;
    // grad_loc and grad_attn start at zero: a point outside every map keeps them.
    if (msda::bilinear_corners(loc[2 * i], loc[2 * i + 1], shapes[2 * l], shapes[2 * l + 1], c)) {
      const int64_t offset = b * S * stride + starts[l] * stride + m * D;
      msda::backward_point(value + offset, grad_value + offset, stride, D, grad_out + bqm * D, c,
                           attn[i], AtomicAdd(), grad_attn + i, grad_loc + 2 * i,
                           grad_loc + 2 * i + 1);
    }
  }
}

at::Tensor ms_deform_attn_forward_cuda(const at::Tensor& value_, const at::Tensor& spatial_shapes,
                                       const at::Tensor& level_start_index,
                                       const at::Tensor& sampling_locations,
                                       const at::Tensor& attention_weights) {
  const auto s = msda::check_inputs(value_, spatial_shapes, level_start_index, sampling_locations,
                                    attention_weights, at::Tensor(), "ms_deform_attn_forward");
  TORCH_CHECK(value_.scalar_type() == at::kFloat || value_.scalar_type() == at::kDouble,
              "ms_deform_attn_forward (CUDA): dtype must be float32 or float64, got ",
              value_.scalar_type());
  const c10::cuda::CUDAGuard guard(value_.device());
  const auto value = value_.contiguous();
  const auto shapes = spatial_shapes.contiguous();
  const auto starts = level_start_index.contiguous();
  const auto loc = sampling_locations.contiguous();
  const auto attn = attention_weights.contiguous();
  auto out = at::empty({s.B, s.Q, s.M * s.D}, value.options());
  const int64_t n = out.numel();
  if (n == 0) {
    return out;
  }
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_forward_cuda", [&] {
    forward_kernel<scalar_t><<<num_blocks(n), kThreads, 0, stream>>>(
        n, value.data_ptr<scalar_t>(), shapes.data_ptr<int64_t>(), starts.data_ptr<int64_t>(),
        loc.data_ptr<scalar_t>(), attn.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), s.S, s.M,
        s.D, s.Q, s.L, s.P);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cuda(
    const at::Tensor& value_, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights, const at::Tensor& grad_output) {
  const auto s = msda::check_inputs(value_, spatial_shapes, level_start_index, sampling_locations,
                                    attention_weights, grad_output, "ms_deform_attn_backward");
  TORCH_CHECK(value_.scalar_type() == at::kFloat || value_.scalar_type() == at::kDouble,
              "ms_deform_attn_backward (CUDA): dtype must be float32 or float64, got ",
              value_.scalar_type());
  const c10::cuda::CUDAGuard guard(value_.device());
  const auto value = value_.contiguous();
  const auto shapes = spatial_shapes.contiguous();
  const auto starts = level_start_index.contiguous();
  const auto loc = sampling_locations.contiguous();
  const auto attn = attention_weights.contiguous();
  const auto grad_out = grad_output.contiguous();
  auto grad_value = at::zeros_like(value);
  auto grad_loc = at::zeros_like(loc);
  auto grad_attn = at::zeros_like(attn);
  const int64_t n = attn.numel();  // one thread per sampling point
  if (n == 0 || s.D == 0) {
    return {grad_value, grad_loc, grad_attn};
  }
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_backward_cuda", [&] {
    backward_kernel<scalar_t><<<num_blocks(n), kThreads, 0, stream>>>(
        n, value.data_ptr<scalar_t>(), shapes.data_ptr<int64_t>(), starts.data_ptr<int64_t>(),
        loc.data_ptr<scalar_t>(), attn.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
        grad_value.data_ptr<scalar_t>(), grad_loc.data_ptr<scalar_t>(),
        grad_attn.data_ptr<scalar_t>(), s.S, s.M, s.D, s.Q, s.L, s.P);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_value, grad_loc, grad_attn};
}

}  // namespace

TORCH_LIBRARY_IMPL(box2mask, CUDA, m) {
  m.impl("ms_deform_attn_forward", &ms_deform_attn_forward_cuda);
  m.impl("ms_deform_attn_backward", &ms_deform_attn_backward_cuda);
}

}  // namespace box2mask
