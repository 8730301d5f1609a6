"""Center-sampling target assignment of Box2Mask-C (SOLO-style grids, boxes only).

Glossary: G ground-truth boxes of one image, K classes, L levels, S_l grid size of level l,
M = Σ_l S_l² grid cells of all levels of one image (level-major, row-major inside a level).
"""

from typing import Sequence, Tuple

import torch

__all__ = ["center_sampling_level", "center_sampling_targets"]


def center_sampling_level(
    gt_boxes: torch.Tensor,
    image_size: Tuple[int, int],
    num_grid: int,
    sigma: float,
) -> torch.Tensor:
    """Grid cells that each box claims on one S × S level (no scale-range test here).

    The centre cell is the one holding the box centre; the centre region is the box centre ±
    half the box size × ``sigma``; positives are the cells of the centre region limited to
    the 3 × 3 neighbourhood of the centre cell (as SOLO, with the box centre in place of the
    mask's centre of mass).

    Args:
        gt_boxes: [G, 4] float (x0, y0, x1, y1) in input pixels.
        image_size: (H, W) of the (padded) input the grid spans, pixels.
        num_grid: S.
        sigma: centre-region scale (0.2 in the paper).
    Returns:
        [G, S, S] bool: cell (i, j) (row i, column j) is a positive of box g.
    """
    height, width = image_size
    s = num_grid
    x0, y0, x1, y1 = gt_boxes.unbind(-1)
    cx, cy = (x0 + x1) * 0.5, (y0 + y1) * 0.5
    half_w, half_h = (x1 - x0) * 0.5 * sigma, (y1 - y0) * 0.5 * sigma

    def cell(v, size):  # grid index of coordinate v along an axis of `size` pixels
        return torch.floor(v / size * s).long().clamp(0, s - 1)

    coord_h, coord_w = cell(cy, height), cell(cx, width)
    top = torch.maximum(cell(cy - half_h, height), coord_h - 1)
    down = torch.minimum(cell(cy + half_h, height), coord_h + 1)
    left = torch.maximum(cell(cx - half_w, width), coord_w - 1)
    right = torch.minimum(cell(cx + half_w, width), coord_w + 1)

    idx = torch.arange(s, device=gt_boxes.device)
    rows = (idx[None] >= top[:, None]) & (idx[None] <= down[:, None])  # [G, S]
    cols = (idx[None] >= left[:, None]) & (idx[None] <= right[:, None])  # [G, S]
    return rows[:, :, None] & cols[:, None, :]


@torch.no_grad()
def center_sampling_targets(
    gt_boxes: torch.Tensor,
    gt_classes: torch.Tensor,
    image_size: Tuple[int, int],
    num_grids: Sequence[int],
    scale_ranges: Sequence[Sequence[float]],
    sigma: float,
    num_classes: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Category and instance targets of all grid cells of one image.

    A box goes to every level whose scale range holds √(wh) (bounds inclusive; the ranges
    overlap, so a box may be positive on two levels). Where boxes compete for a cell, the
    smallest box wins (deterministic; small objects have the fewest cells). Boxes with zero
    width or height are ignored.

    Args:
        gt_boxes: [G, 4] float (x0, y0, x1, y1) in input pixels.
        gt_classes: [G] long in [0, num_classes).
        image_size: (H, W) of the padded input, pixels.
        num_grids: S_l per level.
        scale_ranges: (low, high) of √(wh) per level, input pixels.
        sigma: centre-region scale.
        num_classes: K; background cells get label K.
    Returns:
        labels: [M] long, class of each cell, K for background.
        gt_index: [M] long, index into gt_boxes of each positive cell, -1 for background.
    """
    assert len(num_grids) == len(scale_ranges), "one scale range per grid level"
    device = gt_boxes.device
    wh = (gt_boxes[:, 2:] - gt_boxes[:, :2]).clamp(min=0)
    scale = (wh[:, 0] * wh[:, 1]).sqrt()
    valid = (wh > 0).all(dim=1)
    order_cost = scale.float().clone()  # smaller wins a contested cell
    labels, gt_index = [], []
    for s, (low, high) in zip(num_grids, scale_ranges):
        in_level = valid & (scale >= low) & (scale <= high)
        level_labels = torch.full((s * s,), num_classes, dtype=torch.long, device=device)
        level_index = torch.full((s * s,), -1, dtype=torch.long, device=device)
        if in_level.any():
            sel = in_level.nonzero()[:, 0]
            claims = center_sampling_level(gt_boxes[sel], image_size, s, sigma).flatten(1)
            cost = order_cost[sel, None].expand_as(claims).masked_fill(~claims, float("inf"))
            best_cost, best = cost.min(dim=0)  # [S²]
            pos = torch.isfinite(best_cost)
            winner = sel[best[pos]]
            level_labels[pos] = gt_classes[winner]
            level_index[pos] = winner
        labels.append(level_labels)
        gt_index.append(level_index)
    return torch.cat(labels), torch.cat(gt_index)
