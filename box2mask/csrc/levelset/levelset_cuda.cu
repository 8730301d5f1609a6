// CUDA kernels of the region level-set energy: one block per instance for the forward
// reductions, a grid-stride loop over each box's pixels for the backward pass (atomics on the
// target gradient, which instances of one image share).
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include "levelset/block_reduce.cuh"
#include "levelset/levelset_kernel.h"

namespace box2mask {
namespace levelset {
namespace {

constexpr int kThreads = 256;

template <typename scalar_t>
__global__ void forward_kernel(
    const scalar_t* __restrict__ p_all, const scalar_t* __restrict__ u_all,
    const int64_t* __restrict__ boxes, const int64_t* __restrict__ index, int64_t n_targets,
    int64_t channels, int64_t height, int64_t width, double length_weight,
    scalar_t* __restrict__ energy, double* __restrict__ stats) {
  __shared__ double smem[kThreads];
  const int64_t n = blockIdx.x;
  const int64_t hw = height * width;
  const int64_t n_stats = 2 + 2 * channels;
  double* st = stats + n * n_stats;
  const Box box = clip_box(boxes + 4 * n, height, width);
  const int64_t area = box_area(box);
  const int64_t m = index[n];
  if (area == 0 || m < 0 || m >= n_targets) {  // the range of index is checked by the caller
    if (threadIdx.x == 0) energy[n] = scalar_t(0);
    for (int64_t k = threadIdx.x; k < n_stats; k += blockDim.x) st[k] = 0.0;
    return;
  }
  const int64_t bw = box.x1 - box.x0;
  const scalar_t* p = p_all + n * hw;
  const scalar_t* u = u_all + m * channels * hw;

  double sf = 0.0;
  for (int64_t k = threadIdx.x; k < area; k += blockDim.x) {
    sf += static_cast<double>(p[(box.y0 + k / bw) * width + box.x0 + k % bw]);
  }
  sf = block_sum<kThreads>(sf, smem);
  const double sb = static_cast<double>(area) - sf;

  double e = 0.0;
  for (int64_t c = 0; c < channels; ++c) {
    const scalar_t* uc = u + c * hw;
    double sfu = 0.0, su = 0.0;
    for (int64_t k = threadIdx.x; k < area; k += blockDim.x) {
      const int64_t i = (box.y0 + k / bw) * width + box.x0 + k % bw;
      const double ud = static_cast<double>(uc[i]);
      sfu += static_cast<double>(p[i]) * ud;
      su += ud;
    }
    sfu = block_sum<kThreads>(sfu, smem);
    const double sbu = block_sum<kThreads>(su, smem) - sfu;
    const double c1 = region_mean(sfu, sf), c2 = region_mean(sbu, sb);
    for (int64_t k = threadIdx.x; k < area; k += blockDim.x) {
      const int64_t i = (box.y0 + k / bw) * width + box.x0 + k % bw;
      e += pixel_energy(uc[i], p[i], c1, c2);
    }
    if (threadIdx.x == 0) {
      st[2 + c] = sfu;
      st[2 + channels + c] = sbu;
    }
  }
  e = block_sum<kThreads>(e, smem) / static_cast<double>(channels);
  if (length_weight != 0.0) {
    // Pixels of the box expanded by one to the left and top: each pair touching it once.
    const int64_t ey0 = box.y0 > 0 ? box.y0 - 1 : 0, ex0 = box.x0 > 0 ? box.x0 - 1 : 0;
    const int64_t ew = box.x1 - ex0, earea = (box.y1 - ey0) * ew;
    double len = 0.0;
    for (int64_t k = threadIdx.x; k < earea; k += blockDim.x) {
      len += pixel_length(p, box, height, width, ey0 + k / ew, ex0 + k % ew);
    }
    e += length_weight * block_sum<kThreads>(len, smem);
  }
  if (threadIdx.x == 0) {
    energy[n] = static_cast<scalar_t>(e * area_scale(box));
    st[0] = sf;
    st[1] = sb;
  }
}

template <typename scalar_t>
__global__ void backward_kernel(
    const scalar_t* __restrict__ grad_energy, const scalar_t* __restrict__ p_all,
    const scalar_t* __restrict__ u_all, const int64_t* __restrict__ boxes,
    const int64_t* __restrict__ index, const double* __restrict__ stats, int64_t n_targets,
    int64_t channels, int64_t height, int64_t width, double length_weight,
    scalar_t* __restrict__ grad_p_all, scalar_t* __restrict__ grad_u_all) {
  const int64_t n = blockIdx.y;
  const int64_t hw = height * width;
  const Box box = clip_box(boxes + 4 * n, height, width);
  const int64_t area = box_area(box);
  const int64_t m = index[n];
  if (area == 0 || m < 0 || m >= n_targets) return;
  const double scale = static_cast<double>(grad_energy[n]) * area_scale(box);
  const double* st = stats + n * (2 + 2 * channels);
  const double inv_c = 1.0 / static_cast<double>(channels);
  const int64_t bw = box.x1 - box.x0;
  const scalar_t* p = p_all + n * hw;
  const scalar_t* u = u_all + m * channels * hw;
  scalar_t* gu = grad_u_all + m * channels * hw;
  for (int64_t k = blockIdx.x * blockDim.x + threadIdx.x; k < area;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t y = box.y0 + k / bw, x = box.x0 + k % bw;
    const int64_t i = y * width + x;
    double g = 0.0;
    for (int64_t c = 0; c < channels; ++c) {
      const ChannelCoeffs co =
          channel_coeffs(st[0], st[1], st[2 + c], st[2 + channels + c], channels);
      const scalar_t uc = u[c * hw + i];
      g += co.k + pixel_grad_p(uc, co, inv_c);
      gpuAtomicAdd(gu + c * hw + i,
                   static_cast<scalar_t>(scale * pixel_grad_u(uc, p[i], co, inv_c)));
    }
    if (length_weight != 0.0) g += length_weight * pixel_length_grad(p, box, height, width, y, x);
    grad_p_all[n * hw + i] = static_cast<scalar_t>(scale * g);
  }
}

void check_cuda(const at::Tensor& t, const at::Tensor& like, const char* name) {
  TORCH_CHECK(t.is_cuda() && t.device() == like.device(), "region_levelset_energy (CUDA kernel): ",
              name, " must be on ", like.device(), ", got ", t.device());
}

void check_inputs(
    const at::Tensor& probs, const at::Tensor& targets, const at::Tensor& boxes,
    const at::Tensor& target_index) {
  TORCH_CHECK(probs.dim() == 3 && targets.dim() == 4 && targets.size(1) > 0 &&
                  targets.size(2) == probs.size(1) && targets.size(3) == probs.size(2),
              "region_levelset_energy: probs must be [N, h, w] and targets [M, C >= 1, h, w], got ",
              probs.sizes(), " and ", targets.sizes());
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == probs.size(0) && boxes.size(1) == 4 &&
                  target_index.dim() == 1 && target_index.size(0) == probs.size(0),
              "region_levelset_energy: boxes must be [N, 4] and target_index [N], got ",
              boxes.sizes(), " and ", target_index.sizes());
  TORCH_CHECK(boxes.scalar_type() == at::kLong && target_index.scalar_type() == at::kLong,
              "region_levelset_energy: boxes and target_index must be int64");
  TORCH_CHECK(probs.scalar_type() == targets.scalar_type(),
              "region_levelset_energy: probs and targets must have the same dtype");
  check_cuda(probs, probs, "probs");
  check_cuda(targets, probs, "targets");
  check_cuda(boxes, probs, "boxes");
  check_cuda(target_index, probs, "target_index");
}

std::tuple<at::Tensor, at::Tensor> forward_cuda(
    const at::Tensor& probs, const at::Tensor& targets, const at::Tensor& boxes,
    const at::Tensor& target_index, double length_weight) {
  check_inputs(probs, targets, boxes, target_index);
  c10::cuda::CUDAGuard guard(probs.device());
  const int64_t n_inst = probs.size(0), channels = targets.size(1);
  auto p = probs.contiguous();
  auto u = targets.contiguous();
  auto b = boxes.contiguous();
  auto idx = target_index.contiguous();
  auto energy = at::zeros({n_inst}, probs.options());
  auto stats = at::zeros({n_inst, 2 + 2 * channels}, probs.options().dtype(at::kDouble));
  if (n_inst == 0) return {energy, stats};
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "region_levelset_energy_forward_cuda", [&] {
    forward_kernel<scalar_t><<<n_inst, kThreads, 0, stream>>>(
        p.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), b.data_ptr<int64_t>(),
        idx.data_ptr<int64_t>(), u.size(0), channels, p.size(1), p.size(2), length_weight,
        energy.data_ptr<scalar_t>(), stats.data_ptr<double>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {energy, stats};
}

std::tuple<at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_energy, const at::Tensor& probs, const at::Tensor& targets,
    const at::Tensor& boxes, const at::Tensor& target_index, const at::Tensor& stats,
    double length_weight) {
  check_inputs(probs, targets, boxes, target_index);
  check_cuda(grad_energy, probs, "grad_energy");
  check_cuda(stats, probs, "stats");
  const int64_t n_inst = probs.size(0), channels = targets.size(1);
  TORCH_CHECK(grad_energy.dim() == 1 && grad_energy.size(0) == n_inst,
              "region_levelset_energy_backward: grad_energy must be [N]");
  TORCH_CHECK(stats.scalar_type() == at::kDouble && stats.dim() == 2 &&
                  stats.size(0) == n_inst && stats.size(1) == 2 + 2 * channels,
              "region_levelset_energy_backward: stats must be the forward's [N, 2 + 2C] double");
  c10::cuda::CUDAGuard guard(probs.device());
  auto p = probs.contiguous();
  auto u = targets.contiguous();
  auto b = boxes.contiguous();
  auto idx = target_index.contiguous();
  auto st = stats.contiguous();
  auto g = grad_energy.to(probs.scalar_type()).contiguous();
  auto grad_p = at::zeros_like(p);
  auto grad_u = at::zeros_like(u);
  if (n_inst == 0) return {grad_p, grad_u};
  TORCH_CHECK(n_inst <= 65535, "region_levelset_energy (CUDA): at most 65535 instances per call");
  const int64_t hw = p.size(1) * p.size(2);
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((hw + kThreads - 1) / kThreads, 64)),
                  static_cast<unsigned>(n_inst));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "region_levelset_energy_backward_cuda", [&] {
    backward_kernel<scalar_t><<<grid, kThreads, 0, stream>>>(
        g.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
        b.data_ptr<int64_t>(), idx.data_ptr<int64_t>(), st.data_ptr<double>(), u.size(0),
        channels, p.size(1), p.size(2), length_weight, grad_p.data_ptr<scalar_t>(),
        grad_u.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_p, grad_u};
}

}  // namespace
}  // namespace levelset
}  // namespace box2mask

TORCH_LIBRARY_IMPL(box2mask, CUDA, m) {
  m.impl("region_levelset_energy_forward", &box2mask::levelset::forward_cuda);
  m.impl("region_levelset_energy_backward", &box2mask::levelset::backward_cuda);
}
