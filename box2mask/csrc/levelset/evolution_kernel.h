// Per-pixel math of the explicit Chan–Vese level-set evolution, shared by the CPU loop
// (evolution_cpu.cpp) and the CUDA kernel (evolution_cuda.cu).
//
// φ > 0 is the object. With the regularised Heaviside H_ε(φ) = 1/2 + atan(φ/ε)/π and its
// derivative δ_ε(φ) = ε / (π (ε² + φ²)), one explicit step of the gradient flow is
//   φ ← φ + dt δ_ε(φ) [μ κ - (1/C) Σ_c (u_c - c1_c)² + (1/C) Σ_c (u_c - c2_c)²],
// κ = div(∇φ / |∇φ|) the curvature, c1 / c2 the H- / (1 - H)-weighted means of u.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"
#include "levelset/levelset_kernel.h"

namespace box2mask {
namespace evolution {

constexpr double kPi = 3.14159265358979323846;
constexpr double kGradEps = 1e-8;
// The level set is clamped to ±kPhiLimit pixels: interior pixels keep a non-negligible
// δ_ε, so holes and new components can still appear.
constexpr double kPhiLimit = 2.0;
constexpr double kRegionEps = 1e-5;
// Early stop: every kStopInterval steps the signs of φ are compared with the previous check;
// the evolution stops when no pixel changed side (the contour has stopped moving).
constexpr int64_t kStopInterval = 20;

HOST_DEVICE_INLINE double heaviside(double phi, double eps) {
  return 0.5 + atan(phi / eps) / kPi;
}

HOST_DEVICE_INLINE double dirac(double phi, double eps) {
  return eps / (kPi * (eps * eps + phi * phi));
}

// Index of (y, x) clamped to a rows x cols grid (replicate boundary).
HOST_DEVICE_INLINE int64_t clamped_index(int64_t y, int64_t x, int64_t rows, int64_t cols) {
  y = y < 0 ? 0 : (y >= rows ? rows - 1 : y);
  x = x < 0 ? 0 : (x >= cols ? cols - 1 : x);
  return y * cols + x;
}

// Unit normal ∇φ / |∇φ| at (y, x) from central differences.
HOST_DEVICE_INLINE void unit_normal(
    const double* phi, int64_t rows, int64_t cols, int64_t y, int64_t x, double* nx,
    double* ny) {
  const double gx =
      0.5 * (phi[clamped_index(y, x + 1, rows, cols)] - phi[clamped_index(y, x - 1, rows, cols)]);
  const double gy =
      0.5 * (phi[clamped_index(y + 1, x, rows, cols)] - phi[clamped_index(y - 1, x, rows, cols)]);
  const double norm = sqrt(gx * gx + gy * gy + kGradEps);
  *nx = gx / norm;
  *ny = gy / norm;
}

// Curvature κ = ∂x nx + ∂y ny at (y, x) from precomputed normals (central differences).
HOST_DEVICE_INLINE double curvature(
    const double* nx, const double* ny, int64_t rows, int64_t cols, int64_t y, int64_t x) {
  return 0.5 * (nx[clamped_index(y, x + 1, rows, cols)] - nx[clamped_index(y, x - 1, rows, cols)]) +
         0.5 * (ny[clamped_index(y + 1, x, rows, cols)] - ny[clamped_index(y - 1, x, rows, cols)]);
}

// Initial level set of a box: the signed distance (pixels) of a pixel centre to the box
// boundary, positive inside, clamped to [-limit, limit].
HOST_DEVICE_INLINE double box_phi(
    int64_t y, int64_t x, int64_t x0, int64_t y0, int64_t x1, int64_t y1, double limit) {
  const double cx = x + 0.5, cy = y + 0.5;
  double d = cx - x0;
  d = fmin(d, x1 - cx);
  d = fmin(d, cy - y0);
  d = fmin(d, y1 - cy);
  return fmax(-limit, fmin(limit, d));
}

// The pixels an instance evolves on: its box plus `margin`, clipped to the image.
struct Region {
  int64_t x0, y0, rows, cols;
};

HOST_DEVICE_INLINE Region region_of(
    const levelset::Box& box, int64_t margin, int64_t height, int64_t width) {
  Region r;
  r.x0 = box.x0 - margin > 0 ? box.x0 - margin : 0;
  r.y0 = box.y0 - margin > 0 ? box.y0 - margin : 0;
  r.cols = (box.x1 + margin < width ? box.x1 + margin : width) - r.x0;
  r.rows = (box.y1 + margin < height ? box.y1 + margin : height) - r.y0;
  return r;
}

// φ0 (box_phi) at pixel k of a region.
HOST_DEVICE_INLINE double region_box_phi(const Region& r, const levelset::Box& box, int64_t k) {
  return box_phi(k / r.cols, k % r.cols, box.x0 - r.x0, box.y0 - r.y0, box.x1 - r.x0,
                 box.y1 - r.y0, kPhiLimit);
}

// Data force (1/C) Σ_c [(u_c - c2_c)² - (u_c - c1_c)²] at pixel k of a region of `size`
// pixels; u holds the C channels one after another.
HOST_DEVICE_INLINE double data_force(
    const double* u, int64_t size, int64_t k, int64_t channels, const double* c1,
    const double* c2) {
  double force = 0.0;
  for (int64_t c = 0; c < channels; ++c) {
    const double d1 = u[c * size + k] - c1[c], d2 = u[c * size + k] - c2[c];
    force += d2 * d2 - d1 * d1;
  }
  return force / static_cast<double>(channels);
}

// One explicit step at a pixel: φ + dt δ_ε(φ) (μ κ + data), kept at most φ0 outside the box
// (the margin stays background) and clamped to ±kPhiLimit.
HOST_DEVICE_INLINE double step_phi(
    double phi, double phi0, bool inside, double kappa, double data, double dt, double mu,
    double eps) {
  double v = phi + dt * dirac(phi, eps) * (mu * kappa + data);
  if (!inside) v = fmin(v, phi0);
  return fmax(-kPhiLimit, fmin(kPhiLimit, v));
}

}  // namespace evolution
}  // namespace box2mask
