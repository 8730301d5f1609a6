# TEMPORARY: replaced at merge
"""Stand-in for ``box2mask.losses``: the API the Box2Mask-T criterion codes against.

Only the projection Dice is real here; the level-set and LCM terms return graph-connected
zeros. The losses branch provides the full implementations with the same signatures.
"""

from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from torch import nn

__all__ = ["BoxSupervisedMaskLoss", "mask_supervised_loss", "boxes_to_mask_grid"]


def _dice(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - 2Σab / (Σa² + Σb² + 1e-5) over the last dim. a, b: [N, K] -> [N]."""
    return 1 - 2 * (a * b).sum(-1) / ((a * a).sum(-1) + (b * b).sum(-1) + 1e-5)


def boxes_to_mask_grid(
    boxes: torch.Tensor, height: int, width: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rasterise boxes with inclusive integer ends.

    Args:
        boxes: [N, 4] float (x0, y0, x1, y1) in pixels of the [height, width] grid.
    Returns:
        int_boxes [N, 4] long (inclusive ends, clamped to the grid), box_masks [N, h, w] float.
    """
    x0 = boxes[:, 0].floor().clamp(0, width - 1)
    y0 = boxes[:, 1].floor().clamp(0, height - 1)
    x1 = torch.maximum(boxes[:, 2].ceil() - 1, x0).clamp(0, width - 1)
    y1 = torch.maximum(boxes[:, 3].ceil() - 1, y0).clamp(0, height - 1)
    int_boxes = torch.stack([x0, y0, x1, y1], 1).long()
    xs = torch.arange(width, device=boxes.device)
    ys = torch.arange(height, device=boxes.device)
    in_x = (xs[None] >= int_boxes[:, :1]) & (xs[None] <= int_boxes[:, 2:3])
    in_y = (ys[None] >= int_boxes[:, 1:2]) & (ys[None] <= int_boxes[:, 3:4])
    return int_boxes, (in_y[:, :, None] & in_x[:, None, :]).float()


def mask_supervised_loss(
    mask_logits: torch.Tensor, gt_masks: torch.Tensor
) -> Dict[str, torch.Tensor]:
    """Dice + BCE against ground-truth masks, averaged over instances (unweighted here).

    Args:
        mask_logits: [N, h, w]; gt_masks: [N, h, w] float in [0, 1].
    """
    if mask_logits.numel() == 0:
        zero = mask_logits.sum() * 0
        return {"loss_mask_dice": zero, "loss_mask_bce": zero}
    p = mask_logits.sigmoid().flatten(1)
    t = gt_masks.flatten(1)
    dice = (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    bce = F.binary_cross_entropy_with_logits(mask_logits.flatten(1), t, reduction="none")
    return {"loss_mask_dice": dice, "loss_mask_bce": bce.mean(1).mean()}


class BoxSupervisedMaskLoss(nn.Module):
    """Box projection (real) + level set and LCM (zeros in this stand-in)."""

    @configurable
    def __init__(self, *, projection_weight: float = 5.0):
        super().__init__()
        self.projection_weight = projection_weight

    @classmethod
    def from_config(cls, cfg):
        return {"projection_weight": cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT}

    def forward(
        self,
        mask_logits: torch.Tensor,
        gt_boxes: torch.Tensor,
        image_index: torch.Tensor,
        images: torch.Tensor,
        guide: Optional[torch.Tensor] = None,
        structural_targets_fn: Optional[Callable] = None,
    ) -> Dict[str, torch.Tensor]:
        """Args: see the criterion. Returns weighted scalars averaged over the N instances."""
        zero = mask_logits.sum() * 0
        if guide is not None:
            zero = zero + guide.sum() * 0
        if mask_logits.shape[0] == 0:
            return {"loss_mask_proj": zero, "loss_levelset": zero, "loss_lcm": zero}
        h, w = mask_logits.shape[-2:]
        _, box_masks = boxes_to_mask_grid(gt_boxes, h, w)
        p = mask_logits.sigmoid()
        proj = _dice(p.amax(1), box_masks.amax(1)) + _dice(p.amax(2), box_masks.amax(2))
        return {
            "loss_mask_proj": self.projection_weight * proj.mean(),
            "loss_levelset": zero,
            "loss_lcm": zero,
        }
