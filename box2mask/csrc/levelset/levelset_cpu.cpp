// CPU kernels of the region level-set energy: at::parallel_for over instances (forward) and
// over target rows (backward, so that instances sharing a target never write the same pixel).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <vector>

#include "levelset/levelset_kernel.h"

namespace box2mask {
namespace levelset {
namespace {

void check_inputs(
    const at::Tensor& probs, const at::Tensor& targets, const at::Tensor& boxes,
    const at::Tensor& target_index) {
  TORCH_CHECK(probs.dim() == 3, "region_levelset_energy: probs must be [N, h, w], got ",
              probs.sizes());
  TORCH_CHECK(targets.dim() == 4, "region_levelset_energy: targets must be [M, C, h, w], got ",
              targets.sizes());
  TORCH_CHECK(targets.size(2) == probs.size(1) && targets.size(3) == probs.size(2),
              "region_levelset_energy: targets ", targets.sizes(),
              " and probs ", probs.sizes(), " must share (h, w)");
  TORCH_CHECK(targets.size(1) > 0, "region_levelset_energy: targets need at least one channel");
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == probs.size(0) && boxes.size(1) == 4,
              "region_levelset_energy: boxes must be [N, 4] with N = ", probs.size(0), ", got ",
              boxes.sizes());
  TORCH_CHECK(target_index.dim() == 1 && target_index.size(0) == probs.size(0),
              "region_levelset_energy: target_index must be [N] with N = ", probs.size(0),
              ", got ", target_index.sizes());
  TORCH_CHECK(boxes.scalar_type() == at::kLong && target_index.scalar_type() == at::kLong,
              "region_levelset_energy: boxes and target_index must be int64");
  TORCH_CHECK(probs.scalar_type() == targets.scalar_type(),
              "region_levelset_energy: probs (", probs.scalar_type(), ") and targets (",
              targets.scalar_type(), ") must have the same dtype");
}

void check_cpu(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), "region_levelset_energy (CPU kernel): ", name,
              " must be a CPU tensor, got ", t.device());
}

template <typename scalar_t>
void forward_kernel(
    const scalar_t* p_all, const scalar_t* u_all, const int64_t* boxes, const int64_t* index,
    int64_t n_inst, int64_t channels, int64_t height, int64_t width, double length_weight,
    scalar_t* energy, double* stats) {
  const int64_t hw = height * width;
  const int64_t n_stats = 2 + 2 * channels;
  at::parallel_for(0, n_inst, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(n_stats);
    for (int64_t n = begin; n < end; ++n) {
      const Box box = clip_box(boxes + 4 * n, height, width);
      double* st = stats + n * n_stats;
      if (box_area(box) == 0) {
        energy[n] = scalar_t(0);
        for (int64_t k = 0; k < n_stats; ++k) st[k] = 0.0;
        continue;
      }
      const scalar_t* p = p_all + n * hw;
      const scalar_t* u = u_all + index[n] * channels * hw;
      std::fill(acc.begin(), acc.end(), 0.0);
      // Pass 1: region sums.
      for (int64_t y = box.y0; y < box.y1; ++y) {
        for (int64_t x = box.x0; x < box.x1; ++x) {
          const int64_t i = y * width + x;
          const double pd = static_cast<double>(p[i]);
          acc[0] += pd;
          acc[1] += 1.0 - pd;
          for (int64_t c = 0; c < channels; ++c) {
            const double ud = static_cast<double>(u[c * hw + i]);
            acc[2 + c] += pd * ud;
            acc[2 + channels + c] += (1.0 - pd) * ud;
          }
        }
      }
      // Pass 2: the energy around the region means.
      double e = 0.0;
      for (int64_t c = 0; c < channels; ++c) {
        const double c1 = region_mean(acc[2 + c], acc[0]);
        const double c2 = region_mean(acc[2 + channels + c], acc[1]);
        const scalar_t* uc = u + c * hw;
        for (int64_t y = box.y0; y < box.y1; ++y) {
          for (int64_t x = box.x0; x < box.x1; ++x) {
            const int64_t i = y * width + x;
            e += pixel_energy(uc[i], p[i], c1, c2);
          }
        }
      }
      e /= static_cast<double>(channels);
      if (length_weight != 0.0) {
        double len = 0.0;
        for (int64_t y = box.y0 > 0 ? box.y0 - 1 : 0; y < box.y1; ++y) {
          for (int64_t x = box.x0 > 0 ? box.x0 - 1 : 0; x < box.x1; ++x) {
            len += pixel_length(p, box, height, width, y, x);
          }
        }
        e += length_weight * len;
      }
      energy[n] = static_cast<scalar_t>(e * area_scale(box));
      for (int64_t k = 0; k < n_stats; ++k) st[k] = acc[k];
    }
  });
}

template <typename scalar_t>
void backward_kernel(
    const scalar_t* grad_energy, const scalar_t* p_all, const scalar_t* u_all,
    const int64_t* boxes, const int64_t* index, const double* stats, int64_t n_inst,
    int64_t n_targets, int64_t channels, int64_t height, int64_t width, double length_weight,
    scalar_t* grad_p_all, scalar_t* grad_u_all) {
  const int64_t hw = height * width;
  const int64_t n_stats = 2 + 2 * channels;
  const double inv_c = 1.0 / static_cast<double>(channels);
  // Per-instance coefficients (cheap, serial), and the instances of each target row (CSR).
  std::vector<ChannelCoeffs> coeffs(n_inst * channels);
  std::vector<double> konst(n_inst, 0.0), scale(n_inst, 0.0);
  std::vector<Box> clipped(n_inst);
  std::vector<int64_t> row_start(n_targets + 1, 0), row_inst(n_inst);
  for (int64_t n = 0; n < n_inst; ++n) {
    clipped[n] = clip_box(boxes + 4 * n, height, width);
    scale[n] = static_cast<double>(grad_energy[n]) * area_scale(clipped[n]);
    const double* st = stats + n * n_stats;
    for (int64_t c = 0; c < channels; ++c) {
      coeffs[n * channels + c] =
          channel_coeffs(st[0], st[1], st[2 + c], st[2 + channels + c], channels);
      konst[n] += coeffs[n * channels + c].k;
    }
    ++row_start[index[n] + 1];
  }
  for (int64_t m = 0; m < n_targets; ++m) row_start[m + 1] += row_start[m];
  {
    std::vector<int64_t> fill(row_start.begin(), row_start.end() - 1);
    for (int64_t n = 0; n < n_inst; ++n) row_inst[fill[index[n]]++] = n;
  }
  // One task per (target row m, image row y): it owns grad_u[m, :, y, :] and, for every
  // instance n on target m, grad_p[n, y, :].
  at::parallel_for(0, n_targets * height, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t m = task / height;
      const int64_t y = task % height;
      const scalar_t* u = u_all + m * channels * hw;
      scalar_t* gu = grad_u_all + m * channels * hw;
      for (int64_t r = row_start[m]; r < row_start[m + 1]; ++r) {
        const int64_t n = row_inst[r];
        const Box& box = clipped[n];
        if (y < box.y0 || y >= box.y1 || box.x1 <= box.x0 || scale[n] == 0.0) continue;
        const scalar_t* p = p_all + n * hw;
        scalar_t* gp = grad_p_all + n * hw;
        const ChannelCoeffs* co = coeffs.data() + n * channels;
        for (int64_t x = box.x0; x < box.x1; ++x) {
          const int64_t i = y * width + x;
          double g = konst[n];
          for (int64_t c = 0; c < channels; ++c) {
            const scalar_t uc = u[c * hw + i];
            g += pixel_grad_p(uc, co[c], inv_c);
            gu[c * hw + i] += static_cast<scalar_t>(scale[n] * pixel_grad_u(uc, p[i], co[c], inv_c));
          }
          if (length_weight != 0.0) {
            g += length_weight * pixel_length_grad(p, box, height, width, y, x);
          }
          gp[i] = static_cast<scalar_t>(scale[n] * g);
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> forward_cpu(
    const at::Tensor& probs, const at::Tensor& targets, const at::Tensor& boxes,
    const at::Tensor& target_index, double length_weight) {
  check_inputs(probs, targets, boxes, target_index);
  check_cpu(probs, "probs");
  check_cpu(targets, "targets");
  check_cpu(boxes, "boxes");
  check_cpu(target_index, "target_index");
  const int64_t n_inst = probs.size(0), channels = targets.size(1);
  const int64_t n_targets = targets.size(0);
  auto p = probs.contiguous();
  auto u = targets.contiguous();
  auto b = boxes.contiguous();
  auto idx = target_index.contiguous();
  auto energy = at::zeros({n_inst}, probs.options());
  auto stats = at::zeros({n_inst, 2 + 2 * channels}, probs.options().dtype(at::kDouble));
  if (n_inst == 0) return {energy, stats};
  const int64_t* idx_ptr = idx.data_ptr<int64_t>();
  for (int64_t n = 0; n < n_inst; ++n) {
    TORCH_CHECK(idx_ptr[n] >= 0 && idx_ptr[n] < n_targets, "region_levelset_energy: target_index[",
                n, "] = ", idx_ptr[n], " is out of range for ", n_targets, " target rows");
  }
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "region_levelset_energy_forward_cpu", [&] {
    forward_kernel<scalar_t>(p.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(),
                             b.data_ptr<int64_t>(), idx_ptr, n_inst, channels, p.size(1),
                             p.size(2), length_weight, energy.data_ptr<scalar_t>(),
                             stats.data_ptr<double>());
  });
  return {energy, stats};
}

std::tuple<at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_energy, const at::Tensor& probs, const at::Tensor& targets,
    const at::Tensor& boxes, const at::Tensor& target_index, const at::Tensor& stats,
    double length_weight) {
  check_inputs(probs, targets, boxes, target_index);
  check_cpu(grad_energy, "grad_energy");
  check_cpu(probs, "probs");
  check_cpu(stats, "stats");
  const int64_t n_inst = probs.size(0), channels = targets.size(1);
  TORCH_CHECK(grad_energy.dim() == 1 && grad_energy.size(0) == n_inst,
              "region_levelset_energy_backward: grad_energy must be [N]");
  TORCH_CHECK(stats.scalar_type() == at::kDouble && stats.dim() == 2 &&
                  stats.size(0) == n_inst && stats.size(1) == 2 + 2 * channels,
              "region_levelset_energy_backward: stats must be the forward's [N, 2 + 2C] double");
  auto p = probs.contiguous();
  auto u = targets.contiguous();
  auto b = boxes.contiguous();
  auto idx = target_index.contiguous();
  auto st = stats.contiguous();
  auto g = grad_energy.to(probs.scalar_type()).contiguous();
  auto grad_p = at::zeros_like(p);
  auto grad_u = at::zeros_like(u);
  if (n_inst == 0) return {grad_p, grad_u};
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "region_levelset_energy_backward_cpu", [&] {
    backward_kernel<scalar_t>(g.data_ptr<scalar_t>(), p.data_ptr<scalar_t>(),
                              u.data_ptr<scalar_t>(), b.data_ptr<int64_t>(),
                              idx.data_ptr<int64_t>(), st.data_ptr<double>(), n_inst,
                              u.size(0), channels, p.size(1), p.size(2), length_weight,
                              grad_p.data_ptr<scalar_t>(), grad_u.data_ptr<scalar_t>());
  });
  return {grad_p, grad_u};
}

}  // namespace
}  // namespace levelset
}  // namespace box2mask

TORCH_LIBRARY_IMPL(box2mask, CPU, m) {
  m.impl("region_levelset_energy_forward", &box2mask::levelset::forward_cpu);
  m.impl("region_levelset_energy_backward", &box2mask::levelset::backward_cpu);
}
