"""Training losses of Box2Mask-T: matching, then classification and mask terms per layer.

Shape glossary: B images, Q queries, C classes, N matched pairs in the batch, H×W mask
resolution (stride 4 of the padded input), G guide channels, K mask-feature channels.

targets (one dict per image, built by the meta-architecture):
    "labels": [n] long; "boxes": [n, 4] float (x0, y0, x1, y1) in mask-resolution pixels;
    "masks": [n, H, W] float (only with ``SUPERVISION mask``).
"""

import functools
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.utils.comm import get_world_size
from torch import nn

from box2mask.losses import (
    BoxSupervisedMaskLoss,
    build_structural_targets_fn,
    mask_supervised_loss,
)

from ..guide_head import FeatureGuideHead
from .matcher import build_matcher

__all__ = ["Box2MaskTCriterion", "BoxSupervisedTerm", "MaskSupervisedTerm"]


class BoxSupervisedTerm(nn.Module):
    """Mask losses from boxes: projection + level set (image and deep structural targets) + LCM,
    via :class:`box2mask.losses.BoxSupervisedMaskLoss`. Owns the guide head F
    (:class:`FeatureGuideHead`) that guides the deep-feature tree filter.
    """

    @configurable
    def __init__(
        self,
        *,
        loss: nn.Module,
        mask_dim: int,
        guide_channels: int = 1,
        structural_targets_fn: Optional[Callable] = None,
    ):
        """
        Args:
            loss: a ``BoxSupervisedMaskLoss`` (weights already inside).
            mask_dim: K, channels of the mask features.
            guide_channels: G, output channels of the guide head F (1 for Box2Mask-T).
            structural_targets_fn: the tree-filtered targets cat(T1, T2) of the deep-structural
                level-set term (``build_structural_targets_fn``), or None to skip that term.
        """
        super().__init__()
        self.loss = loss
        self.structural_targets_fn = structural_targets_fn
        self.guide_head = FeatureGuideHead(in_channels=mask_dim, out_channels=guide_channels)

    @classmethod
    def from_config(cls, cfg):
        return {
            "loss": BoxSupervisedMaskLoss(cfg),
            "mask_dim": cfg.MODEL.BOX2MASK_T.MASK_DIM,
            "guide_channels": cfg.MODEL.BOX2MASK.LOSS.FEATURE_GUIDE_CHANNELS,
            "structural_targets_fn": build_structural_targets_fn(cfg),
        }

    def guide(self, mask_features: torch.Tensor) -> torch.Tensor:
        """mask_features [B, K, H, W] → guide F [B, G, H, W] (computed once for all layers)."""
        return self.guide_head(mask_features)

    def forward(
        self,
        mask_logits: torch.Tensor,
        matched: Dict[str, torch.Tensor],
        images: torch.Tensor,
        guide: Optional[torch.Tensor],
        trees: Optional[dict] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            mask_logits: [N, H, W] logits of the matched predictions.
            matched: "boxes" [N, 4] (mask-resolution pixels), "image_index" [N] long.
            images: [B, 3, H, W] normalised input images resized to mask resolution.
            guide: [B, G, H, W] output of :meth:`guide`.
            trees: a dict shared by the calls with the same ``images`` and ``guide`` (every
                decoder layer of one batch): the tree filter's MSTs are built by the first
                call and reused by the others.
        Returns:
            {"loss_mask_proj", "loss_levelset", "loss_lcm"}: weighted means over the N pairs.
        """
        targets_fn = self.structural_targets_fn
        if targets_fn is not None and trees is not None:
            targets_fn = functools.partial(targets_fn, trees=trees)
        return self.loss(
            mask_logits,
            matched["boxes"],
            matched["image_index"],
            images,
            guide=guide,
            structural_targets_fn=targets_fn,
        )


class MaskSupervisedTerm(nn.Module):
    """Mask losses from ground-truth masks (``SUPERVISION mask``): weighted Dice + BCE."""

    @configurable
    def __init__(self, *, dice_weight: float = 3.0, bce_weight: float = 1.0):
        """
        Args:
            dice_weight, bce_weight: weights of the Dice and BCE losses.
        """
        super().__init__()
        self.dice_weight = dice_weight
        self.bce_weight = bce_weight

    @classmethod
    def from_config(cls, cfg):
        return {
            "dice_weight": cfg.MODEL.BOX2MASK.LOSS.MASK_DICE_WEIGHT,
            "bce_weight": cfg.MODEL.BOX2MASK.LOSS.MASK_BCE_WEIGHT,
        }

    def guide(self, mask_features: torch.Tensor) -> None:
        return None

    def forward(self, mask_logits, matched, images, guide, trees=None) -> Dict[str, torch.Tensor]:
        """mask_logits [N, H, W]; matched["masks"] [N, H, W]. Returns weighted means.
        ``images``, ``guide`` and ``trees`` are unused (same interface as the box term)."""
        return mask_supervised_loss(
            mask_logits, matched["masks"].to(mask_logits), self.dice_weight, self.bce_weight
        )


class Box2MaskTCriterion(nn.Module):
    """Hungarian matching, then per prediction layer: cross-entropy over C+1 classes (no-object
    weight 0.1) and the mask term on matched pairs; intermediate layers' losses are suffixed
    ``_0``, ``_1``, ... (deep supervision). Mask losses are normalised by the number of GT
    instances in the batch (averaged over workers, clamped ≥ 1).
    """

    @configurable
    def __init__(
        self,
        *,
        num_classes: int,
        matcher: nn.Module,
        mask_term: nn.Module,
        class_weight: float = 2.0,
        no_object_weight: float = 0.1,
        deep_supervision: bool = True,
    ):
        """
        Args:
            num_classes: C.
            matcher: a Hungarian matcher (``box2mask.modeling.box2mask_t.matcher``).
            mask_term: :class:`BoxSupervisedTerm` or :class:`MaskSupervisedTerm`.
            class_weight: weight of the cross-entropy loss.
            no_object_weight: class weight of the no-object class in the cross-entropy.
            deep_supervision: also compute the losses of the intermediate predictions.
        """
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.mask_term = mask_term
        self.class_weight = class_weight
        self.deep_supervision = deep_supervision
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = no_object_weight
        self.register_buffer("empty_weight", empty_weight, persistent=False)

    @classmethod
    def from_config(cls, cfg):
        t = cfg.MODEL.BOX2MASK_T
        if cfg.MODEL.BOX2MASK.SUPERVISION == "box":
            mask_term = BoxSupervisedTerm(cfg)
        else:
            mask_term = MaskSupervisedTerm(cfg)
        return {
            "num_classes": cfg.MODEL.BOX2MASK.NUM_CLASSES,
            "matcher": build_matcher(cfg),
            "mask_term": mask_term,
            "class_weight": t.CLASS_WEIGHT,
            "no_object_weight": t.NO_OBJECT_WEIGHT,
            "deep_supervision": t.DEEP_SUPERVISION,
        }

    def forward(
        self,
        outputs: Dict,
        targets: List[Dict[str, torch.Tensor]],
        images: torch.Tensor,
        mask_features: torch.Tensor,
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            outputs: the transformer decoder's output ("pred_logits" [B, Q, C+1],
                "pred_masks" [B, Q, H, W], "aux_outputs").
            targets: see the module docstring.
            images: [B, 3, H, W] normalised images at mask resolution (level-set data term).
            mask_features: [B, K, H, W] (input of the guide head).
        Returns:
            dict of scalar losses (weights applied).
        """
        num_masks = sum(len(t["labels"]) for t in targets)
        num_masks = torch.as_tensor([num_masks], dtype=torch.float, device=images.device)
        if get_world_size() > 1:
            torch.distributed.all_reduce(num_masks)
        num_masks = (num_masks / get_world_size()).clamp(min=1).item()
        guide = self.mask_term.guide(mask_features)
        trees = {}  # the tree filter's MSTs of these images and guide, shared by all layers

        losses = self.layer_losses(outputs, targets, images, guide, num_masks, trees)
        if self.deep_supervision:
            for i, aux in enumerate(outputs.get("aux_outputs", [])):
                aux_losses = self.layer_losses(aux, targets, images, guide, num_masks, trees)
                losses.update({f"{k}_{i}": v for k, v in aux_losses.items()})
        return losses

    def layer_losses(self, outputs, targets, images, guide, num_masks: float, trees=None):
        """Losses of one prediction layer (see :meth:`forward`)."""
        indices = self.matcher(outputs, targets)
        logits = outputs["pred_logits"].float()
        device = logits.device
        batch_idx, src_idx = (i.to(device) for i in self._permutation_idx(indices))
        target_classes = torch.full(
            logits.shape[:2], self.num_classes, dtype=torch.int64, device=device
        )
        labels = [t["labels"][j] for t, (_, j) in zip(targets, indices)]
        if len(batch_idx):
            target_classes[batch_idx, src_idx] = torch.cat(labels).to(device)
        loss_cls = F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)
        losses = {"loss_cls": self.class_weight * loss_cls}

        mask_logits = outputs["pred_masks"][batch_idx, src_idx].float()  # [N, H, W]
        matched = {"image_index": batch_idx}
        for key in ("boxes", "masks"):
            if key in targets[0]:
                parts = [t[key][j] for t, (_, j) in zip(targets, indices)]
                matched[key] = torch.cat(parts).to(device)
        mask_losses = self.mask_term(mask_logits, matched, images, guide, trees)
        # the terms average over the N pairs; rescale to "sum / number of GT instances"
        scale = len(batch_idx) / num_masks
        losses.update({k: v * scale for k, v in mask_losses.items()})
        return losses

    @staticmethod
    def _permutation_idx(indices) -> Tuple[torch.Tensor, torch.Tensor]:
        """(image index, prediction index) of every matched pair, concatenated: [N], [N]."""
        batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        src_idx = torch.cat([src for src, _ in indices])
        return batch_idx, src_idx
