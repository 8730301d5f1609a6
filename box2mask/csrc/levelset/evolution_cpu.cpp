// CPU kernel of the explicit Chan–Vese evolution: at::parallel_for over instances, each evolving
// its own level set on the box plus a margin (a sequential, per-instance iteration that stops
// early once the contour no longer moves).
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "levelset/evolution_kernel.h"

namespace box2mask {
namespace evolution {
namespace {

template <typename scalar_t>
void evolve_one(
    const scalar_t* image, int64_t channels, int64_t height, int64_t width,
    const levelset::Box& box, int64_t margin, int64_t steps, double dt, double mu, double eps,
    bool* mask) {
  const int64_t hw = height * width;
  const Region region = region_of(box, margin, height, width);
  const int64_t rx0 = region.x0, ry0 = region.y0;
  const int64_t rows = region.rows, cols = region.cols, size = rows * cols;
  // The data term u over the region, normalised (per-channel mean, one std for all channels)
  // so that μ and dt do not depend on the image's scale.
  std::vector<double> u(channels * size);
  std::vector<double> mean(channels, 0.0), total(channels, 0.0);
  double var = 0.0;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t y = 0; y < rows; ++y) {
      for (int64_t x = 0; x < cols; ++x) {
        u[c * size + y * cols + x] = static_cast<double>(image[c * hw + (ry0 + y) * width + rx0 + x]);
        mean[c] += u[c * size + y * cols + x];
      }
    }
    mean[c] /= static_cast<double>(size);
    for (int64_t k = 0; k < size; ++k) {
      u[c * size + k] -= mean[c];
      var += u[c * size + k] * u[c * size + k];
    }
  }
  const double inv_std = 1.0 / std::sqrt(std::max(var / static_cast<double>(channels * size), 1e-12));
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t k = 0; k < size; ++k) {
      u[c * size + k] *= inv_std;
      total[c] += u[c * size + k];
    }
  }
  // φ0 from the box (region coordinates), positive inside.
  std::vector<double> phi(size), phi0(size), nx(size), ny(size), c1(channels), c2(channels);
  std::vector<char> inside(size);
  for (int64_t y = 0; y < rows; ++y) {
    for (int64_t x = 0; x < cols; ++x) {
      const int64_t k = y * cols + x;
      phi0[k] = region_box_phi(region, box, k);
      phi[k] = phi0[k];
      inside[k] = levelset::in_box(box, ry0 + y, rx0 + x);
    }
  }
  std::vector<char> last_sign(size);
  for (int64_t k = 0; k < size; ++k) last_sign[k] = phi[k] > 0.0;
  for (int64_t step = 0; step < steps; ++step) {
    double sh = 0.0;
    std::fill(c1.begin(), c1.end(), 0.0);
    for (int64_t k = 0; k < size; ++k) {
      const double h = heaviside(phi[k], eps);
      sh += h;
      for (int64_t c = 0; c < channels; ++c) c1[c] += h * u[c * size + k];
    }
    for (int64_t c = 0; c < channels; ++c) {
      c2[c] = (total[c] - c1[c]) / std::max(static_cast<double>(size) - sh, kRegionEps);
      c1[c] /= std::max(sh, kRegionEps);
    }
    for (int64_t y = 0; y < rows; ++y) {
      for (int64_t x = 0; x < cols; ++x) {
        unit_normal(phi.data(), rows, cols, y, x, &nx[y * cols + x], &ny[y * cols + x]);
      }
    }
    for (int64_t y = 0; y < rows; ++y) {
      for (int64_t x = 0; x < cols; ++x) {
        const int64_t k = y * cols + x;
        const double kappa = curvature(nx.data(), ny.data(), rows, cols, y, x);
        const double data = data_force(u.data(), size, k, channels, c1.data(), c2.data());
        phi[k] = step_phi(phi[k], phi0[k], inside[k], kappa, data, dt, mu, eps);
      }
    }
    if ((step + 1) % kStopInterval == 0) {
      int64_t moved = 0;
      for (int64_t k = 0; k < size; ++k) {
        const char sign = phi[k] > 0.0;
        moved += sign != last_sign[k];
        last_sign[k] = sign;
      }
      if (moved == 0) break;
    }
  }
  for (int64_t y = 0; y < rows; ++y) {
    for (int64_t x = 0; x < cols; ++x) {
      const int64_t k = y * cols + x;
      mask[(ry0 + y) * width + rx0 + x] = inside[k] && phi[k] > 0.0;
    }
  }
}

at::Tensor evolve_levelset_cpu(
    const at::Tensor& image, const at::Tensor& boxes, int64_t steps, int64_t margin, double dt,
    double mu, double epsilon) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) > 0,
              "evolve_levelset: image must be [C, H, W] with C >= 1, got ", image.sizes());
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4 && boxes.scalar_type() == at::kLong,
              "evolve_levelset: boxes must be [N, 4] int64 (x0, y0, x1, y1; exclusive ends)");
  TORCH_CHECK(image.device().is_cpu() && boxes.device().is_cpu(),
              "evolve_levelset: inputs must be CPU tensors");
  TORCH_CHECK(steps >= 0 && margin >= 0 && dt > 0 && mu >= 0 && epsilon > 0,
              "evolve_levelset: need steps >= 0, margin >= 0, dt > 0, mu >= 0, epsilon > 0");
  auto img = image.contiguous();
  auto b = boxes.contiguous();
  const int64_t n_inst = b.size(0), channels = img.size(0), height = img.size(1),
                width = img.size(2);
  auto masks = at::zeros({n_inst, height, width}, img.options().dtype(at::kBool));
  if (n_inst == 0) return masks;
  AT_DISPATCH_FLOATING_TYPES(img.scalar_type(), "evolve_levelset_cpu", [&] {
    const scalar_t* image_ptr = img.data_ptr<scalar_t>();
    const int64_t* box_ptr = b.data_ptr<int64_t>();
    bool* mask_ptr = masks.data_ptr<bool>();
    at::parallel_for(0, n_inst, 1, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        const levelset::Box box = levelset::clip_box(box_ptr + 4 * n, height, width);
        if (levelset::box_area(box) == 0) continue;
        evolve_one(image_ptr, channels, height, width, box, margin, steps, dt, mu, epsilon,
                   mask_ptr + n * height * width);
      }
    });
  });
  return masks;
}

}  // namespace
}  // namespace evolution
}  // namespace box2mask

TORCH_LIBRARY_IMPL(box2mask, CPU, m) {
  m.impl("evolve_levelset", &box2mask::evolution::evolve_levelset_cpu);
}
