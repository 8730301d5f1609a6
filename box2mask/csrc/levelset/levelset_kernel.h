// Per-pixel and per-instance math of the region level-set energy (docs/method.md §2.2), shared by the
// CPU loop (levelset_cpu.cpp) and the CUDA kernels (levelset_cuda.cu).
//
// For one instance with probability map p, a C-channel target u and a hard box mask B:
//   Sf = Σ_B p, Sb = Σ_B (1 - p), Sfu_c = Σ_B p u_c, Sbu_c = Σ_B (1 - p) u_c,
//   c1_c = Sfu_c / max(Sf, eps), c2_c = Sbu_c / max(Sb, eps),
//   E = (1/C) Σ_c Σ_B [(u_c - c1_c)² p + (u_c - c2_c)² (1 - p)],  L = E / max(|B|, 1),
// plus the optional length term γ Σ (|∂x f| + |∂y f| + |∂x b| + |∂y b|) / max(|B|, 1) with
// f = p·B, b = (1 - p)·B and forward differences on the full map.
// c1, c2 are not detached: the backward pass differentiates through them (their gradient
// vanishes unless a normaliser is clamped, but is computed exactly either way).
#pragma once

#include <cstdint>

#include "common.h"

namespace box2mask {
namespace levelset {

// Clamp of the region normalisers Σf and Σb (docs/method.md §2.2: max(Σ f, 1e-5)).
constexpr double kRegionEps = 1e-5;

// A box clipped to the map: [x0, x1) x [y0, y1); empty when x1 <= x0 or y1 <= y0.
struct Box {
  int64_t x0, y0, x1, y1;
};

HOST_DEVICE_INLINE int64_t clamp_i64(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// Clip an integer box (exclusive ends) to a height x width map.
HOST_DEVICE_INLINE Box clip_box(const int64_t* b, int64_t height, int64_t width) {
  Box box;
  box.x0 = clamp_i64(b[0], 0, width);
  box.y0 = clamp_i64(b[1], 0, height);
  box.x1 = clamp_i64(b[2], 0, width);
  box.y1 = clamp_i64(b[3], 0, height);
  if (box.x1 < box.x0) box.x1 = box.x0;
  if (box.y1 < box.y0) box.y1 = box.y0;
  return box;
}

HOST_DEVICE_INLINE int64_t box_area(const Box& box) {
  return (box.x1 - box.x0) * (box.y1 - box.y0);
}

HOST_DEVICE_INLINE bool in_box(const Box& box, int64_t y, int64_t x) {
  return x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1;
}

// 1 / max(|B|, 1): the normaliser of the energy and of the length term.
HOST_DEVICE_INLINE double area_scale(const Box& box) {
  const int64_t area = box_area(box);
  return 1.0 / static_cast<double>(area > 1 ? area : 1);
}

HOST_DEVICE_INLINE double clamp_region(double s) { return s > kRegionEps ? s : kRegionEps; }

// Region means c1 = Σ f u / max(Σ f, eps) and c2 = Σ b u / max(Σ b, eps) of one channel.
HOST_DEVICE_INLINE double region_mean(double weighted_sum, double weight_sum) {
  return weighted_sum / clamp_region(weight_sum);
}

// Energy density of one pixel and channel: (u - c1)² p + (u - c2)² (1 - p).
template <typename T>
HOST_DEVICE_INLINE double pixel_energy(T u, T p, double c1, double c2) {
  const double du1 = static_cast<double>(u) - c1;
  const double du2 = static_cast<double>(u) - c2;
  const double pd = static_cast<double>(p);
  return du1 * du1 * pd + du2 * du2 * (1.0 - pd);
}

// Per-instance, per-channel coefficients of the backward pass, from the region sums.
struct ChannelCoeffs {
  double c1, c2;  // region means
  double g1, g2;  // dE/dc1, dE/dc2 (zero unless a normaliser is clamped)
  double u_f;     // g1 / D1: dE/du through c1 is u_f * p
  double u_b;     // g2 / D2: dE/du through c2 is u_b * (1 - p)
  double k;       // this channel's share of the per-instance constant of dE/dp
};

// sf, sb: Σ p, Σ (1 - p) over the box; sfu, sbu: this channel's Σ p u, Σ (1 - p) u.
HOST_DEVICE_INLINE ChannelCoeffs channel_coeffs(
    double sf, double sb, double sfu, double sbu, int64_t channels) {
  ChannelCoeffs co;
  const double d1 = clamp_region(sf);
  const double d2 = clamp_region(sb);
  const double inv_c = 1.0 / static_cast<double>(channels);
  co.c1 = sfu / d1;
  co.c2 = sbu / d2;
  // E_c = Σ u² - 2 c1 Sfu + c1² Sf - 2 c2 Sbu + c2² Sb  =>  dE/dc1 = -2 (Sfu - c1 Sf) / C.
  co.g1 = -2.0 * inv_c * (sfu - co.c1 * sf);
  co.g2 = -2.0 * inv_c * (sbu - co.c2 * sb);
  co.u_f = co.g1 / d1;
  co.u_b = co.g2 / d2;
  // c1 = Sfu / D1: dc1/dp = u / D1 - Sfu / D1² [Sf >= eps]; c2 = Sbu / D2 with dSb/dp = -1,
  // dSbu/dp = -u: dc2/dp = -u / D2 + Sbu / D2² [Sb >= eps]. The u-terms use u_f, u_b per pixel.
  co.k = (sf >= kRegionEps ? -co.g1 * sfu / (d1 * d1) : 0.0) +
         (sb >= kRegionEps ? co.g2 * sbu / (d2 * d2) : 0.0);
  return co;
}

// dE/dp at one pixel from one channel (without the per-instance constant k).
template <typename T>
HOST_DEVICE_INLINE double pixel_grad_p(T u, const ChannelCoeffs& co, double inv_c) {
  const double ud = static_cast<double>(u);
  const double du1 = ud - co.c1;
  const double du2 = ud - co.c2;
  return inv_c * (du1 * du1 - du2 * du2) + ud * (co.u_f - co.u_b);
}

// dE/du_c at one pixel.
template <typename T>
HOST_DEVICE_INLINE double pixel_grad_u(T u, T p, const ChannelCoeffs& co, double inv_c) {
  const double ud = static_cast<double>(u);
  const double pd = static_cast<double>(p);
  return 2.0 * inv_c * ((ud - co.c1) * pd + (ud - co.c2) * (1.0 - pd)) + co.u_f * pd +
         co.u_b * (1.0 - pd);
}

HOST_DEVICE_INLINE double sign(double v) { return v > 0.0 ? 1.0 : (v < 0.0 ? -1.0 : 0.0); }

// Length density of the forward difference between pixel a and its right/lower neighbour b
// (a_in, b_in: whether each lies in the box): |Δf| + |Δb| with f = p·B, b = (1 - p)·B.
template <typename T>
HOST_DEVICE_INLINE double pair_length(T pa, bool a_in, T pb, bool b_in) {
  const double fa = a_in ? static_cast<double>(pa) : 0.0;
  const double fb = b_in ? static_cast<double>(pb) : 0.0;
  const double ba = a_in ? 1.0 - static_cast<double>(pa) : 0.0;
  const double bb = b_in ? 1.0 - static_cast<double>(pb) : 0.0;
  const double df = fb - fa, db = bb - ba;
  return (df > 0 ? df : -df) + (db > 0 ? db : -db);
}

// d(pair_length)/d(p at the pixel `self`) for a pair whose other end is `other`;
// `self_first`: self is the left/upper pixel of the pair. Zero unless self lies in the box.
template <typename T>
HOST_DEVICE_INLINE double pair_length_grad(T self, T other, bool other_in, bool self_first) {
  const double ps = static_cast<double>(self);
  const double fo = other_in ? static_cast<double>(other) : 0.0;
  const double bo = other_in ? 1.0 - static_cast<double>(other) : 0.0;
  // Δf = f_second - f_first; d|Δf|/dp_self = sign(Δf) * (self_first ? -1 : 1); the b-term has
  // d b_self / dp_self = -1.
  const double df = self_first ? fo - ps : ps - fo;
  const double db = self_first ? bo - (1.0 - ps) : (1.0 - ps) - bo;
  const double s = self_first ? -1.0 : 1.0;
  return s * sign(df) - s * sign(db);
}

// Length term of one instance over its box: pairs with at least one end inside the box.
// `p` points at the instance's [height, width] map (row stride `width`).
template <typename T>
HOST_DEVICE_INLINE double pixel_length(
    const T* p, const Box& box, int64_t height, int64_t width, int64_t y, int64_t x) {
  // Pairs starting at (y, x): to the right and downwards. Called for every pixel of the box
  // expanded by one to the left and top, so every pair touching the box is counted once.
  double len = 0.0;
  const bool self_in = in_box(box, y, x);
  const T ps = p[y * width + x];
  if (x + 1 < width) {
    const bool other_in = in_box(box, y, x + 1);
    if (self_in || other_in) len += pair_length(ps, self_in, p[y * width + x + 1], other_in);
  }
  if (y + 1 < height) {
    const bool other_in = in_box(box, y + 1, x);
    if (self_in || other_in) len += pair_length(ps, self_in, p[(y + 1) * width + x], other_in);
  }
  return len;
}

// d(length)/dp at a pixel (y, x) inside the box: sum over the up-to-4 pairs touching it.
template <typename T>
HOST_DEVICE_INLINE double pixel_length_grad(
    const T* p, const Box& box, int64_t height, int64_t width, int64_t y, int64_t x) {
  const T ps = p[y * width + x];
  double g = 0.0;
  if (x + 1 < width) g += pair_length_grad(ps, p[y * width + x + 1], in_box(box, y, x + 1), true);
  if (x > 0) g += pair_length_grad(ps, p[y * width + x - 1], in_box(box, y, x - 1), false);
  if (y + 1 < height)
    g += pair_length_grad(ps, p[(y + 1) * width + x], in_box(box, y + 1, x), true);
  if (y > 0) g += pair_length_grad(ps, p[(y - 1) * width + x], in_box(box, y - 1, x), false);
  return g;
}

}  // namespace levelset
}  // namespace box2mask
