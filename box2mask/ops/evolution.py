"""Explicit Chan–Vese level-set evolution from boxes: a training-free box → mask baseline.

Shapes: N boxes, C image channels, H × W the image size.

For each box, φ starts as the box (signed distance to its boundary, clamped to ±2 px) and
follows the classical two-phase Chan–Vese gradient flow on the image for at most ``steps``
explicit steps, over the box plus ``margin`` pixels (the margin, initially outside the object,
is kept background so that it samples the surroundings: METHOD §7). The mask is φ > 0 inside
the box. The image is normalised per region (zero mean per channel, unit std), so the defaults
do not depend on the image's scale.

Speed: the evolution stops early once the contour has stopped moving (no pixel changed side
over 20 steps), and a box whose region (box + margin) is longer than ``max_size`` pixels is
evolved on its region area-resampled to ``max_size`` pixels, its mask upsampled bilinearly
(cost per box O(steps · max_size²) instead of O(steps · region area)).

The op ``box2mask::evolve_levelset`` has a CPU kernel (parallel over boxes) and a CUDA kernel
(one block per box); it reads the boxes on the host, which sizes each box's workspace.
"""

import math

import torch
from torch.nn import functional as F

from ._extension import compute_dtype, cuda_built, fake_kernel, ops

__all__ = ["evolve_levelset"]


@fake_kernel("evolve_levelset")
def _evolve_fake(image, boxes, steps, margin, dt, mu, epsilon):
    return image.new_empty((boxes.shape[0], *image.shape[1:]), dtype=torch.bool)


def _pixel_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Float xyxy boxes [N, 4] -> int64 boxes (exclusive ends) of the pixels they cover,
    clipped to the image; an empty box has x1 == x0 or y1 == y0."""
    lo = torch.floor(boxes[:, :2])
    hi = torch.maximum(torch.ceil(boxes[:, 2:]), lo)
    pix = torch.cat([lo, hi], 1)
    limit = torch.tensor([width, height, width, height], dtype=pix.dtype)
    return torch.minimum(pix.clamp(min=0), limit).long()


def _check_inputs(image, boxes, steps, margin, dt, mu, epsilon, max_size):
    if not isinstance(image, torch.Tensor) or not image.is_floating_point() or image.dim() != 3:
        raise ValueError("evolve_levelset: image must be a floating-point [C, H, W] tensor")
    if image.shape[0] == 0:
        raise ValueError("evolve_levelset: image must have at least one channel")
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"evolve_levelset: boxes must be [N, 4], got {shape}")
    if steps < 0 or margin < 0 or dt <= 0 or mu < 0 or epsilon <= 0 or max_size < 8:
        raise ValueError(
            "evolve_levelset: need steps >= 0, margin >= 0, dt > 0, mu >= 0, eps > 0, "
            "max_size >= 8"
        )


@torch.no_grad()
def evolve_levelset(
    image: torch.Tensor,
    boxes: torch.Tensor,
    steps: int = 300,
    margin: int = 8,
    dt: float = 0.5,
    mu: float = 0.5,
    epsilon: float = 1.0,
    max_size: int = 64,
) -> torch.Tensor:
    """Masks from boxes by explicit Chan–Vese evolution on the image.

    Args:
        image: [C, H, W] float image (any scale; e.g. RGB in [0, 255] or normalised), on the
            CPU or a CUDA device (other devices compute on the CPU).
        boxes: [N, 4] float (x0, y0, x1, y1) in image pixels; the pixels they touch form the
            box (floor / ceil), clipped to the image. Read on the host.
        steps: most explicit gradient-flow steps (300); fewer when the contour stops early.
        margin: pixels added around the box for the energy (8; 0 = the tight box), at the
            image's resolution.
        dt: time step (0.5; stable for the normalised data term).
        mu: curvature (length) weight μ in units of the normalised data term (0.5).
        epsilon: width ε of the regularised Heaviside / Dirac, in pixels of φ (1.0).
        max_size: longest side (pixels) of the grid a box evolves on (64): a larger region is
            area-resampled to it and its mask upsampled.

    Returns:
        [N, H, W] bool masks, each inside its box, on the device of ``image``.
    """
    _check_inputs(image, boxes, steps, margin, dt, mu, epsilon, max_size)
    device = image.device
    compute_device = device if device.type == "cuda" and cuda_built() else torch.device("cpu")
    image = image.detach().to(compute_device, compute_dtype(image)).contiguous()
    height, width = image.shape[1:]
    pix = _pixel_boxes(boxes.detach().to("cpu", torch.float64), height, width)
    masks = torch.zeros((len(pix), height, width), dtype=torch.bool, device=compute_device)
    args = (int(steps), int(margin), float(dt), float(mu), float(epsilon))

    region_lo = (pix[:, :2] - margin).clamp(min=0)
    region_hi = torch.minimum(pix[:, 2:] + margin, torch.tensor([width, height]))
    long_side = (region_hi - region_lo).max(1).values
    empty = (pix[:, 2] <= pix[:, 0]) | (pix[:, 3] <= pix[:, 1])
    direct = (long_side <= max_size) & ~empty
    if direct.any():
        masks[direct] = ops().evolve_levelset(image, pix[direct].contiguous(), *args)
    for i in ((long_side > max_size) & ~empty).nonzero()[:, 0].tolist():
        (rx0, ry0), (rx1, ry1) = region_lo[i].tolist(), region_hi[i].tolist()
        masks[i, ry0:ry1, rx0:rx1] = _evolve_resampled(
            image[:, ry0:ry1, rx0:rx1], pix[i] - torch.tensor([rx0, ry0, rx0, ry0]), max_size, args
        )
    return masks.to(device)


def _evolve_resampled(region: torch.Tensor, box: torch.Tensor, max_size: int, args) -> torch.Tensor:
    """The mask of one box on its region [C, h, w] (box + margin), evolved on the region
    area-resampled so that its longer side is ``max_size``; [h, w] bool, inside ``box``."""
    h, w = region.shape[1:]
    scale = max_size / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = F.interpolate(region[None], size=size, mode="area")[0].contiguous()
    sy, sx = size[0] / h, size[1] / w
    x0, y0, x1, y1 = box.tolist()
    small_box = torch.tensor(
        [[math.floor(x0 * sx), math.floor(y0 * sy), math.ceil(x1 * sx), math.ceil(y1 * sy)]]
    )
    steps, _, dt, mu, epsilon = args
    # The region already holds the margin: evolve on all of it (a margin that covers it).
    small_mask = ops().evolve_levelset(small, small_box, steps, max_size, dt, mu, epsilon)[0]
    up = F.interpolate(small_mask[None, None].to(region.dtype), size=(h, w), mode="bilinear")
    mask = up[0, 0] > 0.5
    inside = torch.zeros_like(mask)
    inside[y0:y1, x0:x1] = True
    return mask & inside
