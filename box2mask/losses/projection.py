"""Box targets at mask resolution and the box projection loss (BoxInst; docs/method.md §2.1).

Shapes: N instances, h × w the mask resolution.
"""

import torch

from ..ops.levelset import box_masks_from_int_boxes

__all__ = ["box_pixel_ranges", "boxes_to_mask_grid", "box_projection_loss", "dice_loss"]

_DICE_EPS = 1e-5


def box_pixel_ranges(boxes, height: int, width: int):
    """Integer boxes on a height × width pixel grid: the one box rasterisation of the project.

    A pixel (column j, row i) is in the box when its centre (j + 0.5, i + 0.5) lies inside
    [x0, x1] × [y0, y1] — the same pixels a stride-s subsampling of an input-resolution box
    mask keeps. A box that covers no pixel centre but has positive size keeps the pixel that
    holds its centre, so no valid box vanishes; boxes are clipped to the map.

    Args:
        boxes: [N, 4] float (x0, y0, x1, y1) in pixels of the grid.
        height, width: grid size.

    Returns:
        [N, 4] long (x0, y0, x1, y1), exclusive ends, clipped to the map.
    """
    boxes = torch.nan_to_num(boxes.detach().to(torch.float64))
    lo = torch.ceil(boxes[:, :2] - 0.5)  # first pixel whose centre is >= x0, y0
    hi = torch.floor(boxes[:, 2:] - 0.5) + 1  # one past the last centre <= x1, y1
    centre = torch.floor((boxes[:, :2] + boxes[:, 2:]) / 2)
    tiny = (hi <= lo) & (boxes[:, 2:] > boxes[:, :2])
    lo = torch.where(tiny, centre, lo)
    hi = torch.where(tiny, centre + 1, hi)
    size = boxes.new_tensor([width, height])
    lo = torch.minimum(lo.clamp_min(0), size)
    hi = torch.maximum(torch.minimum(hi.clamp_min(0), size), lo)
    return torch.cat([lo, hi], 1).long()


def boxes_to_mask_grid(boxes, height: int, width: int):
    """Integer boxes (``box_pixel_ranges``) and hard box masks on a height × width grid.

    Args:
        boxes: [N, 4] float (x0, y0, x1, y1) in mask-resolution pixels.
        height, width: mask size.

    Returns:
        int_boxes: [N, 4] long (x0, y0, x1, y1), exclusive ends, clipped to the map.
        box_masks: [N, height, width] float (boxes' dtype if floating, else fp32), 1 in the box.
    """
    dtype = boxes.dtype if boxes.is_floating_point() else torch.float32
    int_boxes = box_pixel_ranges(boxes, height, width)
    return int_boxes, box_masks_from_int_boxes(int_boxes, height, width, dtype)


def dice_loss(a, b):
    """Dice loss per row: 1 - 2 Σab / (Σa² + Σb² + 1e-5).

    Args:
        a, b: [N, K] (any trailing shape is flattened).

    Returns:
        [N] losses in [0, 1] for inputs in [0, 1]. The 1e-5 keeps empty rows finite.
    """
    a = a.flatten(1)
    b = b.flatten(1)
    inter = (a * b).sum(1)
    union = (a * a).sum(1) + (b * b).sum(1)
    return 1.0 - 2.0 * inter / (union + _DICE_EPS)


def box_projection_loss(probs, box_masks):
    """Box projection loss: Dice of the max-projections onto both axes.

    Args:
        probs: [N, h, w] mask probabilities in [0, 1].
        box_masks: [N, h, w] {0, 1} float box masks.

    Returns:
        [N] Dice(max_y p, max_y B) + Dice(max_x p, max_x B).
    """
    loss_x = dice_loss(probs.amax(dim=1), box_masks.amax(dim=1))  # projection onto the x axis
    loss_y = dice_loss(probs.amax(dim=2), box_masks.amax(dim=2))  # projection onto the y axis
    return loss_x + loss_y
