// Per-pixel math of the explicit Chan–Vese level-set evolution (evolution_cpu.cpp).
//
// φ > 0 is the object. With the regularised Heaviside H_ε(φ) = 1/2 + atan(φ/ε)/π and its
// derivative δ_ε(φ) = ε / (π (ε² + φ²)), one explicit step of the gradient flow is
//   φ ← φ + dt δ_ε(φ) [μ κ - (1/C) Σ_c (u_c - c1_c)² + (1/C) Σ_c (u_c - c2_c)²],
// κ = div(∇φ / |∇φ|) the curvature, c1 / c2 the H- / (1 - H)-weighted means of u.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace box2mask {
namespace evolution {

constexpr double kPi = 3.14159265358979323846;
constexpr double kGradEps = 1e-8;

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

}  // namespace evolution
}  // namespace box2mask
