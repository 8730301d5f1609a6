// CUDA kernel of the explicit Chan–Vese evolution: one block per box, its threads striding over
// the pixels of the box plus its margin; the region means of every step are block reductions.
// The per-pixel arithmetic is the CPU loop's (evolution_kernel.h), and so is the early stop.
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include <vector>

#include "levelset/evolution_kernel.h"
#include "levelset/block_reduce.cuh"
#include "levelset/levelset_kernel.h"

namespace box2mask {
namespace evolution {
namespace {

constexpr int kThreads = 256;
// Image channels held in shared memory (region means c1, c2 and channel totals).
constexpr int64_t kMaxChannels = 16;

// work + offsets[n]: (channels + 4) * size doubles per box: u (normalised image, channel after
// channel), φ, the unit normal (nx, ny) and the signs of φ at the last early-stop check.
template <typename scalar_t>
__global__ void evolve_kernel(
    const scalar_t* __restrict__ image, int64_t channels, int64_t height, int64_t width,
    const int64_t* __restrict__ boxes, const int64_t* __restrict__ offsets, int64_t margin,
    int64_t steps, double dt, double mu, double eps, double* __restrict__ work,
    bool* __restrict__ masks) {
  __shared__ double smem[kThreads];
  __shared__ double c1[kMaxChannels], c2[kMaxChannels], total[kMaxChannels];
  const int64_t n = blockIdx.x;
  const levelset::Box box = levelset::clip_box(boxes + 4 * n, height, width);
  if (levelset::box_area(box) == 0) return;
  const Region r = region_of(box, margin, height, width);
  const int64_t size = r.rows * r.cols, hw = height * width;
  double* u = work + offsets[n];
  double* phi = u + channels * size;
  double* nx = phi + size;
  double* ny = nx + size;
  double* last_sign = ny + size;

  // u: per-channel mean removed, one std for all channels.
  double sq = 0.0;
  for (int64_t c = 0; c < channels; ++c) {
    double s = 0.0;
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      const double v = static_cast<double>(
          image[c * hw + (r.y0 + k / r.cols) * width + r.x0 + k % r.cols]);
      u[c * size + k] = v;
      s += v;
    }
    const double mean = block_sum<kThreads>(s, smem) / static_cast<double>(size);
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      u[c * size + k] -= mean;
      sq += u[c * size + k] * u[c * size + k];
    }
  }
  const double var = block_sum<kThreads>(sq, smem) / static_cast<double>(channels * size);
  const double inv_std = 1.0 / sqrt(fmax(var, 1e-12));
  for (int64_t c = 0; c < channels; ++c) {
    double s = 0.0;
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      u[c * size + k] *= inv_std;
      s += u[c * size + k];
    }
    s = block_sum<kThreads>(s, smem);
    if (threadIdx.x == 0) total[c] = s;
  }
  for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
    phi[k] = region_box_phi(r, box, k);
    last_sign[k] = phi[k] > 0.0 ? 1.0 : 0.0;
  }
  __syncthreads();

  for (int64_t step = 0; step < steps; ++step) {
    double sh = 0.0;
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) sh += heaviside(phi[k], eps);
    sh = block_sum<kThreads>(sh, smem);
    for (int64_t c = 0; c < channels; ++c) {
      double shu = 0.0;
      for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
        shu += heaviside(phi[k], eps) * u[c * size + k];
      }
      shu = block_sum<kThreads>(shu, smem);
      if (threadIdx.x == 0) {
        c2[c] = (total[c] - shu) / fmax(static_cast<double>(size) - sh, kRegionEps);
        c1[c] = shu / fmax(sh, kRegionEps);
      }
    }
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      unit_normal(phi, r.rows, r.cols, k / r.cols, k % r.cols, &nx[k], &ny[k]);
    }
    __syncthreads();
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
      const int64_t y = k / r.cols, x = k % r.cols;
      const double kappa = curvature(nx, ny, r.rows, r.cols, y, x);
      const double data = data_force(u, size, k, channels, c1, c2);
      const bool inside = levelset::in_box(box, r.y0 + y, r.x0 + x);
      phi[k] = step_phi(phi[k], region_box_phi(r, box, k), inside, kappa, data, dt, mu, eps);
    }
    __syncthreads();
    if ((step + 1) % kStopInterval == 0) {
      double moved = 0.0;
      for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
        const double sign = phi[k] > 0.0 ? 1.0 : 0.0;
        moved += sign != last_sign[k];
        last_sign[k] = sign;
      }
      if (block_sum<kThreads>(moved, smem) == 0.0) break;  // the same value in every thread
    }
  }
  bool* mask = masks + n * hw;
  for (int64_t k = threadIdx.x; k < size; k += blockDim.x) {
    const int64_t y = r.y0 + k / r.cols, x = r.x0 + k % r.cols;
    mask[y * width + x] = levelset::in_box(box, y, x) && phi[k] > 0.0;
  }
}

at::Tensor evolve_levelset_cuda(
    const at::Tensor& image, const at::Tensor& boxes, int64_t steps, int64_t margin, double dt,
    double mu, double epsilon) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) > 0 && image.size(0) <= kMaxChannels,
              "evolve_levelset: image must be [C, H, W] with 1 <= C <= ", kMaxChannels,
              " on the GPU, got ", image.sizes());
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4 && boxes.scalar_type() == at::kLong,
              "evolve_levelset: boxes must be [N, 4] int64 (x0, y0, x1, y1; exclusive ends)");
  TORCH_CHECK(image.is_cuda(), "evolve_levelset: image must be a CUDA tensor here");
  TORCH_CHECK(boxes.device().is_cpu(),
              "evolve_levelset: with a CUDA image, boxes must be a CPU tensor (the host sizes "
              "each box's workspace from them)");
  TORCH_CHECK(steps >= 0 && margin >= 0 && dt > 0 && mu >= 0 && epsilon > 0,
              "evolve_levelset: need steps >= 0, margin >= 0, dt > 0, mu >= 0, epsilon > 0");
  c10::cuda::CUDAGuard guard(image.device());
  auto img = image.contiguous();
  auto b = boxes.contiguous();
  const int64_t n_inst = b.size(0), channels = img.size(0), height = img.size(1),
                width = img.size(2);
  auto masks = at::zeros({n_inst, height, width}, img.options().dtype(at::kBool));
  if (n_inst == 0) return masks;
  std::vector<int64_t> offsets(n_inst);
  int64_t total = 0;
  const int64_t* box_ptr = b.data_ptr<int64_t>();
  for (int64_t n = 0; n < n_inst; ++n) {
    offsets[n] = total;
    const levelset::Box box = levelset::clip_box(box_ptr + 4 * n, height, width);
    if (levelset::box_area(box) == 0) continue;
    const Region r = region_of(box, margin, height, width);
    total += (channels + 4) * r.rows * r.cols;
  }
  auto work = at::empty({total > 0 ? total : 1}, img.options().dtype(at::kDouble));
  auto offsets_gpu =
      at::tensor(offsets, b.options()).to(img.device(), /*non_blocking=*/false);
  auto boxes_gpu = b.to(img.device());
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(img.scalar_type(), "evolve_levelset_cuda", [&] {
    evolve_kernel<scalar_t><<<n_inst, kThreads, 0, stream>>>(
        img.data_ptr<scalar_t>(), channels, height, width, boxes_gpu.data_ptr<int64_t>(),
        offsets_gpu.data_ptr<int64_t>(), margin, steps, dt, mu, epsilon,
        work.data_ptr<double>(), masks.data_ptr<bool>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return masks;
}

}  // namespace
}  // namespace evolution
}  // namespace box2mask

TORCH_LIBRARY_IMPL(box2mask, CUDA, m) {
  m.impl("evolve_levelset", &box2mask::evolution::evolve_levelset_cuda);
}
