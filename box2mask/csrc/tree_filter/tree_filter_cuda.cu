// Tree filter on the GPU: the two-pass filter and its gradient (the MST and BFS order are built
// on the CPU, see tree_filter_cpu.cpp). One thread block walks one tree level by level (every
// depth level is a contiguous range of BFS positions); its threads share the vertices of a
// level. Per-vertex math: tree_filter_kernel.h, the same as the CPU kernels.
// (ATen/cuda/CUDAContext.h is avoided on purpose: it needs the cuSPARSE/cuBLAS headers.)
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include "tree_filter/tree_filter_checks.h"
#include "tree_filter/tree_filter_kernel.h"

namespace box2mask {
namespace tree_filter {
namespace {

constexpr int kThreads = 128;

// Number of depth levels L: levels[] rises strictly from levels[0] = 0 until it reaches V.
__device__ int count_levels(const int* levels, int V) {
  int lo = 1, hi = V;  // the first l with levels[l] == V lies in [1, V]
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (levels[mid] >= V) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

// up = tree_up(src) over one tree, from the deepest level to the root; the whole block.
template <typename T, typename Src>
__device__ void block_up(int L, const int* levels, const int* children, const T* w, Src src,
                         T* up) {
  for (int l = L - 1; l >= 0; --l) {
    for (int k = levels[l] + threadIdx.x; k < levels[l + 1]; k += blockDim.x) {
      up[k] = tree_up_value<T>(k, src(k), up, w, children);
    }
    __syncthreads();
  }
}

// down = tree_down(up) from the root level; visit(k) runs once down[k] is final (the levels
// above k's are final too). The whole block.
template <typename T, typename Visit>
__device__ void block_down(int L, const int* levels, const int* parent, const T* w, const T* up,
                           T* down, Visit visit) {
  for (int l = 0; l < L; ++l) {
    for (int k = levels[l] + threadIdx.x; k < levels[l + 1]; k += blockDim.x) {
      down[k] = tree_down_value<T>(k, up[k], down, w, parent);
      visit(k);
    }
    __syncthreads();
  }
}

// Per image b: U_z = tree_up(1) and Z = tree_down(U_z).
template <typename T>
__global__ void norm_kernel(const T* __restrict__ weight, const int* __restrict__ parent,
                            const int* __restrict__ children, const int* __restrict__ levels,
                            int V, T* norm_up, T* norm) {
  const int64_t b = blockIdx.x;
  const T* w = weight + b * V;
  const int* lv = levels + b * (V + 1);
  const int L = count_levels(lv, V);
  T* uz = norm_up + b * V;
  block_up(L, lv, children + b * kMaxChildren * V, w, [](int) { return T(1); }, uz);
  block_down(L, lv, parent + b * V, w, uz, norm + b * V, [](int) {});
}

// Per (instance, channel): out = tree_down(tree_up(x)) / Z, scattered back to raster order.
template <typename T>
__global__ void forward_kernel(const T* __restrict__ x, const T* __restrict__ weight,
                               const T* __restrict__ norm, const int* __restrict__ order,
                               const int* __restrict__ parent, const int* __restrict__ children,
                               const int* __restrict__ levels,
                               const int64_t* __restrict__ image_index, int C, int V,
                               T* workspace, T* out) {
  const int64_t nc = blockIdx.x, b = image_index[nc / C];
  const T *w = weight + b * V, *z = norm + b * V, *xs = x + nc * V;
  const int *o = order + b * V, *lv = levels + b * (V + 1);
  const int L = count_levels(lv, V);
  T* up = workspace + 2 * nc * V;
  T* down = up + V;
  T* os = out + nc * V;
  block_up(L, lv, children + b * kMaxChildren * V, w, [&](int k) { return xs[o[k]]; }, up);
  block_down(L, lv, parent + b * V, w, up, down, [&](int k) { os[o[k]] = down[k] / z[k]; });
}

// Per (instance, channel): grad_x = tree_down(tree_up(grad_out / Z)); with weight_grad, adds
// this channel's dL/dw to grad_weight[b] and its dL/dZ to grad_norm[b] (atomics), from the
// forward's passes U, A of x.
template <typename T>
__global__ void backward_kernel(const T* __restrict__ grad_out, const T* __restrict__ passes,
                                const T* __restrict__ weight, const T* __restrict__ norm,
                                const int* __restrict__ order, const int* __restrict__ parent,
                                const int* __restrict__ children, const int* __restrict__ levels,
                                const int64_t* __restrict__ image_index, int C, int V,
                                bool weight_grad, T* workspace, T* grad_x, T* grad_weight,
                                T* grad_norm) {
  const int64_t nc = blockIdx.x, b = image_index[nc / C];
  const T *w = weight + b * V, *z = norm + b * V, *go = grad_out + nc * V;
  const int *o = order + b * V, *par = parent + b * V, *ch = children + b * kMaxChildren * V,
            *lv = levels + b * (V + 1);
  const int L = count_levels(lv, V);
  T* gup = workspace + 2 * nc * V;
  T* gdown = gup + V;
  T* gx = grad_x + nc * V;
  block_up(L, lv, ch, w, [&](int k) { return go[o[k]] / z[k]; }, gup);
  if (!weight_grad) {
    block_down(L, lv, par, w, gup, gdown, [&](int k) { gx[o[k]] = gdown[k]; });
    return;
  }
  const T* up = passes + 2 * nc * V;
  const T* down = up + V;
  T *gw = grad_weight + b * V, *gz = grad_norm + b * V;
  block_down(L, lv, par, w, gup, gdown, [&](int k) {
    gx[o[k]] = gdown[k];
    gpuAtomicAdd(gz + k, -go[o[k]] * down[k] / (z[k] * z[k]));
    if (k > 0) gpuAtomicAdd(gw + k, tree_weight_grad_value<T>(k, up, down, gup, gdown, w, par));
  });
}

// Per image: the normaliser's share of dL/dw from dL/dZ (grad_norm[b], summed over instances).
template <typename T>
__global__ void backward_norm_kernel(const T* __restrict__ weight, const T* __restrict__ norm,
                                     const T* __restrict__ norm_up, const int* __restrict__ parent,
                                     const int* __restrict__ children,
                                     const int* __restrict__ levels, int V,
                                     const T* __restrict__ grad_norm, T* workspace,
                                     T* grad_weight) {
  const int64_t b = blockIdx.x;
  const T *w = weight + b * V, *z = norm + b * V, *uz = norm_up + b * V, *gz = grad_norm + b * V;
  const int *par = parent + b * V, *lv = levels + b * (V + 1);
  const int L = count_levels(lv, V);
  T* gup = workspace + 2 * b * V;
  T* gdown = gup + V;
  T* gw = grad_weight + b * V;
  block_up(L, lv, children + b * kMaxChildren * V, w, [&](int k) { return gz[k]; }, gup);
  block_down(L, lv, par, w, gup, gdown, [&](int k) {
    if (k > 0) gpuAtomicAdd(gw + k, tree_weight_grad_value<T>(k, uz, z, gup, gdown, w, par));
  });
}

struct Inputs {
  at::Tensor x, weight, order, parent, children, levels, image_index;
};

Inputs prepare(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& order,
               const at::Tensor& parent, const at::Tensor& children, const at::Tensor& levels,
               const at::Tensor& image_index) {
  check_filter_inputs(x, weight, image_index);
  TORCH_CHECK(x.is_cuda(), "tree_filter: the CUDA kernel got a tensor on ", x.device());
  check_tree(order, parent, children, levels, weight.size(0), x.size(2), x.device());
  return {x.contiguous(),        weight.contiguous(),   order.contiguous(),
          parent.contiguous(),   children.contiguous(), levels.contiguous(),
          image_index.contiguous()};
}

template <typename scalar_t>
void launch_norm(const Inputs& in, int64_t B, int64_t V, at::Tensor& norm_up, at::Tensor& norm,
                 cudaStream_t stream) {
  norm_kernel<scalar_t><<<B, kThreads, 0, stream>>>(
      in.weight.const_data_ptr<scalar_t>(), in.parent.const_data_ptr<int>(),
      in.children.const_data_ptr<int>(), in.levels.const_data_ptr<int>(), int(V),
      norm_up.mutable_data_ptr<scalar_t>(), norm.mutable_data_ptr<scalar_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> forward_cuda(
    const at::Tensor& x_in, const at::Tensor& weight_in, const at::Tensor& order_in,
    const at::Tensor& parent_in, const at::Tensor& children_in, const at::Tensor& levels_in,
    const at::Tensor& image_index_in, bool save_passes) {
  const c10::cuda::CUDAGuard device_guard(x_in.device());
  const Inputs in =
      prepare(x_in, weight_in, order_in, parent_in, children_in, levels_in, image_index_in);
  const int64_t N = in.x.size(0), C = in.x.size(1), V = in.x.size(2), B = in.weight.size(0);
  at::Tensor out = at::empty_like(in.x), norm = at::empty_like(in.weight);
  at::Tensor passes = at::empty({save_passes ? N : 0, C, 2, V}, in.x.options());
  if (V == 0 || B == 0) return {out, norm, passes};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(in.x.scalar_type(), "tree_filter_forward_cuda", [&] {
    at::Tensor norm_up = at::empty_like(in.weight);
    launch_norm<scalar_t>(in, B, V, norm_up, norm, stream);
    if (N * C == 0) return;
    // The passes U, A of x live in the workspace; kept for the weight gradient if asked.
    at::Tensor workspace = save_passes ? passes : at::empty({N, C, 2, V}, in.x.options());
    forward_kernel<scalar_t><<<N * C, kThreads, 0, stream>>>(
        in.x.const_data_ptr<scalar_t>(), in.weight.const_data_ptr<scalar_t>(),
        norm.const_data_ptr<scalar_t>(), in.order.const_data_ptr<int>(),
        in.parent.const_data_ptr<int>(), in.children.const_data_ptr<int>(),
        in.levels.const_data_ptr<int>(), in.image_index.const_data_ptr<int64_t>(), int(C),
        int(V), workspace.mutable_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {out, norm, passes};
}

std::tuple<at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_out_in, const at::Tensor& norm_in, const at::Tensor& passes_in,
    const at::Tensor& weight_in, const at::Tensor& order_in, const at::Tensor& parent_in,
    const at::Tensor& children_in, const at::Tensor& levels_in, const at::Tensor& image_index_in,
    bool weight_grad) {
  const c10::cuda::CUDAGuard device_guard(grad_out_in.device());
  const Inputs in =
      prepare(grad_out_in, weight_in, order_in, parent_in, children_in, levels_in, image_index_in);
  check_backward_inputs(grad_out_in, norm_in, passes_in, weight_in, weight_grad);
  const at::Tensor& grad_out = in.x;
  const at::Tensor norm = norm_in.contiguous();
  const at::Tensor passes = weight_grad ? passes_in.contiguous() : passes_in;
  const int64_t N = grad_out.size(0), C = grad_out.size(1), V = grad_out.size(2),
                B = in.weight.size(0);
  at::Tensor grad_x = at::empty_like(grad_out), grad_weight = at::zeros_like(in.weight);
  if (N * C == 0 || V == 0) return {grad_x, grad_weight};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grad_out.scalar_type(), "tree_filter_backward_cuda", [&] {
    at::Tensor workspace = at::empty({N * C, 2, V}, grad_out.options());
    at::Tensor grad_norm = weight_grad ? at::zeros({B, V}, grad_out.options()) : at::Tensor();
    backward_kernel<scalar_t><<<N * C, kThreads, 0, stream>>>(
        grad_out.const_data_ptr<scalar_t>(),
        weight_grad ? passes.const_data_ptr<scalar_t>() : nullptr,
        in.weight.const_data_ptr<scalar_t>(), norm.const_data_ptr<scalar_t>(),
        in.order.const_data_ptr<int>(), in.parent.const_data_ptr<int>(),
        in.children.const_data_ptr<int>(), in.levels.const_data_ptr<int>(),
        in.image_index.const_data_ptr<int64_t>(), int(C), int(V), weight_grad,
        workspace.mutable_data_ptr<scalar_t>(), grad_x.mutable_data_ptr<scalar_t>(),
        grad_weight.mutable_data_ptr<scalar_t>(),
        weight_grad ? grad_norm.mutable_data_ptr<scalar_t>() : nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (!weight_grad) return;
    // U_z of every image, then the normaliser's share of dL/dw per image.
    at::Tensor norm_up = at::empty_like(in.weight), norm_again = at::empty_like(in.weight);
    launch_norm<scalar_t>(in, B, V, norm_up, norm_again, stream);
    at::Tensor norm_workspace = at::empty({B, 2, V}, grad_out.options());
    backward_norm_kernel<scalar_t><<<B, kThreads, 0, stream>>>(
        in.weight.const_data_ptr<scalar_t>(), norm.const_data_ptr<scalar_t>(),
        norm_up.const_data_ptr<scalar_t>(), in.parent.const_data_ptr<int>(),
        in.children.const_data_ptr<int>(), in.levels.const_data_ptr<int>(), int(V),
        grad_norm.const_data_ptr<scalar_t>(), norm_workspace.mutable_data_ptr<scalar_t>(),
        grad_weight.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_x, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(box2mask, CUDA, m) {
  m.impl("tree_filter_forward", &forward_cuda);
  m.impl("tree_filter_backward", &backward_cuda);
}

}  // namespace tree_filter
}  // namespace box2mask
