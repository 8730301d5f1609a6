# TEMPORARY: replaced at merge by the losses branch.
# A minimal stand-in with exactly the losses branch's public API so that the Box2Mask-C model
# and its tests run in this branch: projection Dice only, zeros for the level-set and LCM terms.
import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable

__all__ = ["BoxSupervisedMaskLoss", "mask_supervised_loss", "boxes_to_mask_grid"]


def boxes_to_mask_grid(boxes, height, width):
    """Box masks with inclusive integer ends. TEMPORARY.

    Args:
        boxes: [N, 4] float (x0, y0, x1, y1) in grid pixels.
        height, width: grid size.
    Returns:
        int_boxes [N, 4] long, box_masks [N, height, width] float.
    """
    int_boxes = boxes.floor().long()
    int_boxes[:, 0::2] = int_boxes[:, 0::2].clamp(0, width - 1)
    int_boxes[:, 1::2] = int_boxes[:, 1::2].clamp(0, height - 1)
    ys = torch.arange(height, device=boxes.device)[None, :, None]
    xs = torch.arange(width, device=boxes.device)[None, None, :]
    b = int_boxes[:, :, None, None]
    inside = (xs >= b[:, 0]) & (xs <= b[:, 2]) & (ys >= b[:, 1]) & (ys <= b[:, 3])
    return int_boxes, inside.float()


def _dice(a, b):
    return 1 - 2 * (a * b).sum(-1) / ((a * a).sum(-1) + (b * b).sum(-1) + 1e-5)


class BoxSupervisedMaskLoss(nn.Module):
    """TEMPORARY stand-in: projection Dice only; level-set and LCM terms are zeros."""

    @configurable
    def __init__(self, *, projection_weight=3.0, min_box_pixels=10):
        super().__init__()
        self.projection_weight = projection_weight
        self.min_box_pixels = min_box_pixels

    @classmethod
    def from_config(cls, cfg):
        return {
            "projection_weight": cfg.MODEL.BOX2MASK.LOSS.PROJECTION_WEIGHT,
            "min_box_pixels": cfg.MODEL.BOX2MASK.LOSS.MIN_BOX_PIXELS,
        }

    def forward(
        self, mask_logits, gt_boxes, image_index, images, guide=None, structural_targets_fn=None
    ):
        zero = mask_logits.sum() * 0
        h, w = mask_logits.shape[-2:]
        _, box_masks = boxes_to_mask_grid(gt_boxes, h, w)
        keep = box_masks.flatten(1).sum(1) >= self.min_box_pixels
        if not keep.any():
            return {"loss_mask_proj": zero, "loss_levelset": zero, "loss_lcm": zero}
        p = mask_logits[keep].sigmoid()
        b = box_masks[keep]
        proj = _dice(p.amax(1), b.amax(1)) + _dice(p.amax(2), b.amax(2))
        return {
            "loss_mask_proj": proj.mean() * self.projection_weight,
            "loss_levelset": zero,
            "loss_lcm": zero,
        }


def mask_supervised_loss(mask_logits, gt_masks):
    """Dice + BCE against ground-truth masks (unweighted). TEMPORARY."""
    if mask_logits.numel() == 0:
        zero = mask_logits.sum() * 0
        return {"loss_mask_dice": zero, "loss_mask_bce": zero}
    p = mask_logits.sigmoid().flatten(1)
    dice = _dice(p, gt_masks.flatten(1)).mean()
    bce = F.binary_cross_entropy_with_logits(mask_logits, gt_masks)
    return {"loss_mask_dice": dice, "loss_mask_bce": bce}
