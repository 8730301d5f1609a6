"""Mask post-processing shared by Box2Mask-C and Box2Mask-T: mask logits or probabilities over
the padded input resampled to the output image, and binary masks reduced to boxes."""

import math
from typing import Tuple

import torch
from torch.nn import functional as F

__all__ = ["masks_to_boxes", "resample_to_output"]


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes of binary masks, detectron2 convention (x1 = last column + 1).

    Args:
        masks: [N, H, W] bool.
    Returns:
        [N, 4] float (x0, y0, x1, y1) pixels; all zeros for an empty mask.
    """
    n, h, w = masks.shape
    boxes = masks.new_zeros((n, 4), dtype=torch.float32)
    if n == 0:
        return boxes
    # amax over a uint8 view: the same as any(), an order of magnitude faster on the CPU.
    as_bytes = masks.view(torch.uint8)
    cols, rows = as_bytes.amax(dim=1) > 0, as_bytes.amax(dim=2) > 0  # [N, W], [N, H]
    xs = torch.arange(w, device=masks.device)
    ys = torch.arange(h, device=masks.device)
    nonempty = cols.any(dim=1)
    big = max(h, w) + 1
    boxes[:, 0] = torch.where(cols, xs, big).amin(dim=1).float()
    boxes[:, 1] = torch.where(rows, ys, big).amin(dim=1).float()
    boxes[:, 2] = torch.where(cols, xs, -1).amax(dim=1).float() + 1
    boxes[:, 3] = torch.where(rows, ys, -1).amax(dim=1).float() + 1
    return boxes * nonempty[:, None]


def resample_to_output(
    masks: torch.Tensor,
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
    padded_size: Tuple[int, int],
) -> torch.Tensor:
    """Masks over the padded input, bilinearly resampled to the output in one pass.

    The same sampling as resizing to the padded input, cropping the image and resizing that to
    the output, without the second pass; mask rows and columns the output never samples are
    dropped before resampling. The result is always ``output_size``, also when the output is
    smaller than the mask grid (a 1 × 1 image).

    Args:
        masks: [k, h, w] float (logits or probabilities) covering the padded input of size
            ``padded_size`` (H_p, W_p) pixels.
        image_size: (H_i, W_i) un-padded input region (top-left of the padded input).
        output_size: (H0, W0) to produce; it spans the un-padded region.
    Returns:
        [k, H0, W0] float.
    """
    k, h, w = masks.shape
    if k == 0:
        return masks.new_zeros((0, *output_size))
    scale = (
        padded_size[0] * output_size[0] / (image_size[0] * h),
        padded_size[1] * output_size[1] / (image_size[1] * w),
    )
    rows = _source_extent(h, output_size[0], scale[0])
    cols = _source_extent(w, output_size[1], scale[1])
    source = masks[:, None, : min(rows, h), : min(cols, w)]
    if rows > h or cols > w:
        # Bilinear sampling clamps past the last row/column, so replicated edges change no
        # value; they only make the output at least output_size when the grid is coarse.
        source = F.pad(source, (0, max(cols - w, 0), 0, max(rows - h, 0)), mode="replicate")
    out = F.interpolate(
        source, scale_factor=scale, mode="bilinear", align_corners=False,
        recompute_scale_factor=False,
    )
    return out[:, 0, : output_size[0], : output_size[1]]


def _source_extent(size: int, output: int, scale: float) -> int:
    """Source rows (or columns) to resample by ``scale`` so that the result covers ``output``
    pixels: those the output samples (pixel y reads row (y + 0.5) / scale - 0.5 and the row below
    it), and enough that floor(rows * scale), the size ``F.interpolate`` produces, is at least
    ``output``; more than ``size`` only when the mask grid is coarser than the output needs."""
    rows = max(min(size, math.floor((output - 0.5) / scale) + 2), math.ceil(output / scale))
    while math.floor(rows * scale) < output:  # ceil's rounding can leave one short
        rows += 1
    return rows
