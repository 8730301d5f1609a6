"""Mask losses of Box2Mask: box projection, level set, local consistency, and the fully
supervised reference."""

from .box_supervised import BoxSupervisedMaskLoss
from .boxinst import BoxInstMaskLoss
from .lcm import local_affinity, local_consistency_loss, propagate
from .levelset import feature_levelset_loss, image_levelset_loss
from .loss_inputs import LossImages, loss_image_stats, masks_at_mask_resolution
from .mask_supervised import mask_supervised_loss
from .projection import box_projection_loss, boxes_to_mask_grid, dice_loss
from .structural_targets import build_structural_targets_fn, deep_structural_targets

__all__ = [
    "BoxInstMaskLoss",
    "BoxSupervisedMaskLoss",
    "LossImages",
    "box_projection_loss",
    "boxes_to_mask_grid",
    "build_structural_targets_fn",
    "deep_structural_targets",
    "dice_loss",
    "feature_levelset_loss",
    "image_levelset_loss",
    "local_affinity",
    "local_consistency_loss",
    "loss_image_stats",
    "mask_supervised_loss",
    "masks_at_mask_resolution",
    "propagate",
]
