// Multi-scale deformable attention: the math of one sampling point, shared by the CPU loop
// (ms_deform_attn_cpu.cpp) and the CUDA kernels (ms_deform_attn_cuda.cu).
//
// Shape glossary: B batch, S = sum_l H_l * W_l value positions, M heads, D channels per head,
// Q queries, L levels, P points per level and head.
//
// One sampling point reads bilinearly, with zero padding, from a map of H x W positions whose
// D channels lie contiguous and consecutive positions lie `stride` (= M * D) elements apart.
// Locations (x, y) are normalised to [0, 1] with (0, 0) the top-left corner of the map and
// pixel centres at (i + 0.5) / W: the grid_sample(align_corners=False) convention.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace box2mask {
namespace msda {

// The four bilinear corners of one sampling point, in the order (top-left, top-right,
// bottom-left, bottom-right). A corner outside the map has index -1 and zero weights.
template <typename T>
HOST_DEVICE_INLINE T floor_(T x) {
#if defined(__CUDA_ARCH__)
  return floor(x);  // CUDA's device overloads (float and double)
#else
  return std::floor(x);
#endif
}

template <typename T>
struct Corners {
  int64_t index[4];  // row * W + col within the level, or -1 when outside the map
  T weight[4];       // bilinear interpolation weight
  T dweight_dx[4];   // d weight / d x, x the normalised location (includes the factor W)
  T dweight_dy[4];   // d weight / d y, y the normalised location (includes the factor H)
};

// Fills `c` for the normalised location (x, y) on a height x width map. Returns false (and
// leaves `c` unspecified) when the point lies a pixel or more outside the map, so that no
// corner is inside, or is NaN.
template <typename T>
HOST_DEVICE_INLINE bool bilinear_corners(T x, T y, int64_t height, int64_t width, Corners<T>& c) {
  // Continuous pixel coordinates: pixel i covers [i, i + 1) * (1 / W), its centre maps to i.
  const T w_im = x * static_cast<T>(width) - T(0.5);
  const T h_im = y * static_cast<T>(height) - T(0.5);
  // Written so that NaN fails too; a point at exactly -1 still touches row/col 0 (weight 0).
  if (!(h_im >= T(-1) && h_im < static_cast<T>(height) && w_im >= T(-1) &&
        w_im < static_cast<T>(width))) {
    return false;
  }
  const int64_t h_low = static_cast<int64_t>(floor_(h_im));  // in [-1, height - 1]
  const int64_t w_low = static_cast<int64_t>(floor_(w_im));
  const T lh = h_im - static_cast<T>(h_low);  // in [0, 1)
  const T lw = w_im - static_cast<T>(w_low);
  const T hh = T(1) - lh;
  const T hw = T(1) - lw;
  const T fh = static_cast<T>(height);
  const T fw = static_cast<T>(width);

  const bool row_ok[2] = {h_low >= 0, h_low + 1 < height};
  const bool col_ok[2] = {w_low >= 0, w_low + 1 < width};
  const T row_w[2] = {hh, lh};
  const T col_w[2] = {hw, lw};
  const T row_dw[2] = {-fh, fh};  // d row_w / d y
  const T col_dw[2] = {-fw, fw};  // d col_w / d x
  for (int r = 0; r < 2; ++r) {
    for (int s = 0; s < 2; ++s) {
      const int k = 2 * r + s;
      if (row_ok[r] && col_ok[s]) {
        c.index[k] = (h_low + r) * width + (w_low + s);
        c.weight[k] = row_w[r] * col_w[s];
        c.dweight_dx[k] = row_w[r] * col_dw[s];
        c.dweight_dy[k] = row_dw[r] * col_w[s];
      } else {
        c.index[k] = -1;
        c.weight[k] = T(0);
        c.dweight_dx[k] = T(0);
        c.dweight_dy[k] = T(0);
      }
    }
  }
  return true;
}

// The bilinear sample of one channel: sum_k weight_k * value[index_k * stride]. `value`
// points at channel d of position 0 of the level.
template <typename T>
HOST_DEVICE_INLINE T sample_channel(const T* value, int64_t stride, const Corners<T>& c) {
  T out = T(0);
  for (int k = 0; k < 4; ++k) {
    if (c.index[k] >= 0) {
      out += c.weight[k] * value[c.index[k] * stride];
    }
  }
  return out;
}

// Forward of one point over all channels: out[d] += attn * sample(d), d < channels.
// `value` points at channel 0 of position 0 of the level (for the point's batch and head).
template <typename T>
HOST_DEVICE_INLINE void forward_point(const T* value, int64_t stride, int64_t channels,
                                      const Corners<T>& c, T attn, T* out) {
  for (int k = 0; k < 4; ++k) {
    if (c.index[k] < 0) {
      continue;
    }
    const T* v = value + c.index[k] * stride;
    const T a = attn * c.weight[k];
    for (int64_t d = 0; d < channels; ++d) {
      out[d] += a * v[d];
    }
  }
}

// sum_d a[d] * b[d] with four partial sums (shorter dependency chains; vectorisable).
template <typename T>
HOST_DEVICE_INLINE T dot(const T* a, const T* b, int64_t n) {
  T s0 = T(0), s1 = T(0), s2 = T(0), s3 = T(0);
  int64_t d = 0;
  for (; d + 4 <= n; d += 4) {
    s0 += a[d] * b[d];
    s1 += a[d + 1] * b[d + 1];
    s2 += a[d + 2] * b[d + 2];
    s3 += a[d + 3] * b[d + 3];
  }
  for (; d < n; ++d) {
    s0 += a[d] * b[d];
  }
  return (s0 + s1) + (s2 + s3);
}

// Backward of one point over all channels, given grad_out[d] = dL/d out[d] of its query/head.
//   grad_value[index_k * stride + d] += attn * weight_k * grad_out[d]   (through `add`)
//   returns, through the pointers: dL/d attn, dL/d x, dL/d y of the point.
// `add(T* dst, T v)` performs *dst += v (plain on the CPU, atomicAdd on the GPU).
template <typename T, typename AddFn>
HOST_DEVICE_INLINE void backward_point(const T* value, T* grad_value, int64_t stride,
                                       int64_t channels, const T* grad_out, const Corners<T>& c,
                                       T attn, AddFn add, T* grad_attn, T* grad_x, T* grad_y) {
  T g_attn = T(0), g_x = T(0), g_y = T(0);
  for (int k = 0; k < 4; ++k) {
    if (c.index[k] < 0) {
      continue;
    }
    const int64_t offset = c.index[k] * stride;
    const T* v = value + offset;
    T* gv = grad_value + offset;
    const T a = attn * c.weight[k];
    for (int64_t d = 0; d < channels; ++d) {
      add(gv + d, a * grad_out[d]);
    }
    // dL/d sample_k = <grad_out, value_k>, shared by the three scalar gradients.
    const T g_dot_v = dot(grad_out, v, channels);
    g_attn += c.weight[k] * g_dot_v;
    g_x += c.dweight_dx[k] * g_dot_v;
    g_y += c.dweight_dy[k] * g_dot_v;
  }
  *grad_attn = g_attn;
  *grad_x = attn * g_x;
  *grad_y = attn * g_y;
}

}  // namespace msda
}  // namespace box2mask
