"""Fully supervised mask losses (Dice + BCE): the reference trained with real masks.

Shapes: N instances, h × w the mask resolution.
"""

import torch
import torch.nn.functional as F

from .projection import dice_loss

__all__ = ["mask_supervised_loss"]


def mask_supervised_loss(mask_logits, gt_masks, dice_weight: float = 3.0, bce_weight: float = 1.0):
    """Dice + BCE against ground-truth masks, averaged over instances.

    Args:
        mask_logits: [N, h, w] mask logits.
        gt_masks: [N, h, w] ground-truth masks ({0, 1}, any dtype) at mask resolution.
        dice_weight: cfg.MODEL.BOX2MASK.LOSS.MASK_DICE_WEIGHT.
        bce_weight: cfg.MODEL.BOX2MASK.LOSS.MASK_BCE_WEIGHT.

    Returns:
        {"loss_mask_dice", "loss_mask_bce"}: weighted scalars; zeros connected to the graph of
        ``mask_logits`` when N == 0.
    """
    if mask_logits.shape != gt_masks.shape:
        raise ValueError(
            f"mask_supervised_loss: mask_logits {tuple(mask_logits.shape)} and gt_masks "
            f"{tuple(gt_masks.shape)} must match"
        )
    if mask_logits.shape[0] == 0:
        zero = mask_logits.sum() * 0.0
        return {"loss_mask_dice": zero, "loss_mask_bce": zero}
    with torch.autocast(mask_logits.device.type, enabled=False):
        logits = mask_logits.float()
        target = gt_masks.to(logits.dtype)
        dice = dice_loss(logits.sigmoid(), target).mean()
        bce = F.binary_cross_entropy_with_logits(logits, target)
    return {"loss_mask_dice": dice_weight * dice, "loss_mask_bce": bce_weight * bce}
