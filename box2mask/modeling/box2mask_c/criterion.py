"""Training losses of Box2Mask-C: centre-sampling assignment, focal loss on the category grids,
and the mask losses of the positive cells (docs/method.md §2, §4).

Glossary: B images, M = Σ_l S_l² grid cells per image, K classes, D dynamic-kernel size,
N positive cells of the batch, h × w mask resolution (stride 4 of the padded input H × W),
G guide channels.
"""

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from fvcore.nn import sigmoid_focal_loss_jit
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.structures import Instances
from detectron2.utils.comm import get_world_size

from ...losses import (
    BoxInstMaskLoss,
    BoxSupervisedMaskLoss,
    build_structural_targets_fn,
    mask_supervised_loss,
    masks_at_mask_resolution,
)
from .assignment import center_sampling_targets

__all__ = ["Box2MaskCCriterion"]

# MODEL.BOX2MASK.LOSS.MASK_LOSS -> the box-supervised mask loss module.
_MASK_LOSSES = {"levelset": BoxSupervisedMaskLoss, "boxinst": BoxInstMaskLoss}


class Box2MaskCCriterion(nn.Module):
    """Assigns ground truths to grid cells, then: ``loss_cls`` (sigmoid focal loss over all
    cells, normalised by the number of positives) and the mask losses of the positives
    (``SUPERVISION box``: projection, level set, LCM — or BoxInst's; ``mask``: Dice + BCE)."""

    @configurable
    def __init__(
        self,
        *,
        supervision: str,
        num_classes: int,
        num_grids: Sequence[int],
        scale_ranges: Sequence[Sequence[float]],
        sigma: float,
        mask_stride: int,
        focal_alpha: float,
        focal_gamma: float,
        focal_weight: float,
        box_mask_loss: Optional[nn.Module] = None,
        structural_targets_fn: Optional[Callable] = None,
        mask_dice_weight: float = 3.0,
        mask_bce_weight: float = 1.0,
    ):
        """
        Args:
            supervision: "box" or "mask".
            num_classes: K.
            num_grids: S_l per level.
            scale_ranges: (low, high) of √(wh) per level, input pixels.
            sigma: centre-sampling region scale.
            mask_stride: stride of the mask feature (4).
            focal_alpha, focal_gamma, focal_weight: sigmoid focal loss.
            box_mask_loss: ``BoxSupervisedMaskLoss`` or ``BoxInstMaskLoss`` (needed for "box").
            structural_targets_fn: deep structural targets of the tree-filter term, or None.
            mask_dice_weight, mask_bce_weight: weights of the "mask" supervision losses.
        """
        super().__init__()
        if supervision not in ("box", "mask"):
            raise ValueError(
                f"MODEL.BOX2MASK.SUPERVISION must be 'box' or 'mask', got {supervision!r}"
            )
        if supervision == "box" and box_mask_loss is None:
            raise ValueError("SUPERVISION 'box' needs a box_mask_loss")
        self.supervision = supervision
        self.num_classes = num_classes
        self.num_grids = list(num_grids)
        self.scale_ranges = [tuple(r) for r in scale_ranges]
        self.sigma = sigma
        self.mask_stride = mask_stride
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.focal_weight = focal_weight
        self.box_mask_loss = box_mask_loss
        self.structural_targets_fn = structural_targets_fn
        self.mask_dice_weight = mask_dice_weight
        self.mask_bce_weight = mask_bce_weight

    @classmethod
    def from_config(cls, cfg, mask_stride: int):
        c = cfg.MODEL.BOX2MASK_C
        supervision = cfg.MODEL.BOX2MASK.SUPERVISION
        mask_loss = cfg.MODEL.BOX2MASK.LOSS.MASK_LOSS
        if mask_loss not in _MASK_LOSSES:
            raise ValueError(
                f"MODEL.BOX2MASK.LOSS.MASK_LOSS must be one of {sorted(_MASK_LOSSES)}, got "
                f"{mask_loss!r}"
            )
        return {
            "supervision": supervision,
            "num_classes": cfg.MODEL.BOX2MASK.NUM_CLASSES,
            "num_grids": c.NUM_GRIDS,
            "scale_ranges": c.SCALE_RANGES,
            "sigma": c.SIGMA,
            "mask_stride": mask_stride,
            "focal_alpha": c.FOCAL_ALPHA,
            "focal_gamma": c.FOCAL_GAMMA,
            "focal_weight": c.FOCAL_WEIGHT,
            "box_mask_loss": _MASK_LOSSES[mask_loss](cfg) if supervision == "box" else None,
            "structural_targets_fn": build_structural_targets_fn(cfg),
            "mask_dice_weight": cfg.MODEL.BOX2MASK.LOSS.MASK_DICE_WEIGHT,
            "mask_bce_weight": cfg.MODEL.BOX2MASK.LOSS.MASK_BCE_WEIGHT,
        }

    @staticmethod
    def uses_guide(cfg) -> bool:
        """Whether this configuration's loss reads the guide head F (level-set box loss)."""
        loss = cfg.MODEL.BOX2MASK.LOSS
        return cfg.MODEL.BOX2MASK.SUPERVISION == "box" and loss.MASK_LOSS == "levelset"

    def forward(
        self,
        category_logits: torch.Tensor,
        kernels: torch.Tensor,
        mask_features: torch.Tensor,
        gt_instances: List[Instances],
        loss_images: torch.Tensor,
        input_size: Tuple[int, int],
        guide: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            category_logits: [B, M, K].
            kernels: [B, M, D].
            mask_features: [B, D, h, w].
            gt_instances: per image, gt_boxes in input pixels, gt_classes (and gt_masks for
                SUPERVISION "mask").
            loss_images: [B, 3, h, w] the level-set data term's images (``LossImages``).
            input_size: (H, W) padded input size.
            guide: [B, G, h, w] guide features F, or None.
        Returns:
            "loss_cls" and the mask losses (box: "loss_mask_proj", "loss_levelset", "loss_lcm",
            or "loss_mask_proj", "loss_pairwise" with MASK_LOSS "boxinst"; mask:
            "loss_mask_dice", "loss_mask_bce").
        """
        k = self.num_classes
        device = category_logits.device
        targets = [
            center_sampling_targets(
                inst.gt_boxes.tensor,
                inst.gt_classes,
                tuple(input_size),
                self.num_grids,
                self.scale_ranges,
                self.sigma,
                k,
            )
            for inst in gt_instances
        ]
        labels = torch.stack([t[0] for t in targets])  # [B, M]
        gt_index = torch.stack([t[1] for t in targets])  # [B, M]
        pos = labels < k
        local_pos = pos.sum().float()
        num_pos = local_pos.clone()
        if get_world_size() > 1:  # every process normalises by the positives of all
            torch.distributed.all_reduce(num_pos)
            num_pos = num_pos / get_world_size()
        num_pos = num_pos.clamp(min=1.0)
        # The mask losses average over this process's positives; rescaled to "sum / positives
        # of all processes" (1 in a single process), as the focal loss.
        mask_scale = local_pos / num_pos
        onehot = F.one_hot(labels, k + 1)[..., :k].to(category_logits.dtype)
        loss_cls = sigmoid_focal_loss_jit(
            category_logits, onehot, alpha=self.focal_alpha, gamma=self.focal_gamma, reduction="sum"
        ) * (self.focal_weight / num_pos)

        d, h, w = mask_features.shape[1:]
        mask_logits = torch.cat(
            [
                (kernels[i][pos[i]] @ mask_features[i].reshape(d, h * w)).reshape(-1, h, w)
                for i in range(len(gt_instances))
            ]
        )  # [N, h, w]
        image_index = pos.nonzero()[:, 0]
        offsets = torch.tensor([0] + [len(x) for x in gt_instances], device=device).cumsum(0)
        matched = gt_index[pos] + offsets[image_index]  # [N] index into the batch's boxes

        if self.supervision == "box":
            # Boxes only: gt_masks, even if present, are never read.
            boxes = torch.cat([x.gt_boxes.tensor for x in gt_instances])[matched] / self.mask_stride
            mask_losses = self.box_mask_loss(
                mask_logits,
                boxes,
                image_index,
                loss_images,
                guide=guide,
                structural_targets_fn=self.structural_targets_fn,
            )
        else:
            gt_masks = self._gt_masks(gt_instances, input_size, (h, w)).to(device)[matched]
            mask_losses = mask_supervised_loss(
                mask_logits, gt_masks, self.mask_dice_weight, self.mask_bce_weight
            )
        losses = {"loss_cls": loss_cls}
        losses.update({name: v * mask_scale for name, v in mask_losses.items()})
        return losses

    @staticmethod
    def _gt_masks(gt_instances, input_size, mask_size) -> torch.Tensor:
        """All ground-truth masks of the batch at mask resolution, [ΣG, h, w]."""
        out = []
        for inst in gt_instances:
            if not inst.has("gt_masks"):
                raise ValueError("MODEL.BOX2MASK.SUPERVISION 'mask' needs gt_masks from the mapper")
            out.append(masks_at_mask_resolution(inst.gt_masks, inst.image_size, input_size, mask_size))
        return torch.cat(out)
