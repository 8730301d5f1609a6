"""Box2Mask-C: the CNN (SOLOv2-style) Box2Mask, trained from boxes via level-set losses.

Glossary: B images, L grid levels, S_l grid size, M = Σ_l S_l² cells per image, K classes,
D dynamic-kernel size, N positive cells of the batch, h × w mask resolution (stride 4 of
the padded input H × W), G guide channels.
"""

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from fvcore.nn import sigmoid_focal_loss_jit
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.structures import BitMasks, ImageList, Instances, PolygonMasks

from ...losses import (
    BoxInstMaskLoss,
    BoxSupervisedMaskLoss,
    build_structural_targets_fn,
    mask_supervised_loss,
)
from ..center_sampling import center_sampling_targets
from ..heads import FeatureGuideHead, KernelCategoryHead, MaskFeatureHead
from ..inference_c import Box2MaskCPostProcessor, points_nms

__all__ = ["Box2MaskC"]

# MODEL.BOX2MASK.LOSS.MASK_LOSS -> the box-supervised mask loss module.
_MASK_LOSSES = {"levelset": BoxSupervisedMaskLoss, "boxinst": BoxInstMaskLoss}


@META_ARCH_REGISTRY.register()
class Box2MaskC(nn.Module):
    """Backbone + FPN → kernel/category heads on S × S grids + a stride-4 mask feature;
    mask logits of a cell = its dynamic 1×1 kernel applied to the mask feature.

    Training (``SUPERVISION: box``) reads only boxes and classes: focal loss on the category
    grids and the box-supervised mask losses (projection, level set, LCM) on the positives.
    ``SUPERVISION: mask`` replaces the mask losses by Dice + BCE on ground-truth masks.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: KernelCategoryHead,
        mask_head: MaskFeatureHead,
        guide_head: Optional[FeatureGuideHead],
        postprocessor: Box2MaskCPostProcessor,
        box_mask_loss: Optional[nn.Module],
        supervision: str,
        num_classes: int,
        in_features: Sequence[str],
        mask_in_features: Sequence[str],
        level_strides: Sequence[int],
        mask_stride: int,
        num_grids: Sequence[int],
        scale_ranges: Sequence[Sequence[float]],
        sigma: float,
        focal_alpha: float,
        focal_gamma: float,
        focal_weight: float,
        mask_dice_weight: float,
        mask_bce_weight: float,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        loss_image_mean: Sequence[float],
        loss_image_std: Sequence[float],
        structural_targets_fn: Optional[Callable] = None,
    ):
        """
        Args:
            backbone: detectron2 backbone returning at least ``in_features`` and
                ``mask_in_features``.
            head: kernel and category branches.
            mask_head: mask feature branch (D channels, stride ``mask_stride``).
            guide_head: deep-feature guide F on the mask feature (box supervision with the
                level-set loss only; None otherwise, so that no parameter goes without a
                gradient).
            postprocessor: inference of one image.
            box_mask_loss: ``BoxSupervisedMaskLoss`` or ``BoxInstMaskLoss`` (LOSS.MASK_LOSS;
                used when supervision is "box").
            supervision: "box" or "mask".
            num_classes: K.
            in_features: backbone features for the grid levels; the first is downsampled
                ×0.5 and the last resized to the one before it.
            mask_in_features: backbone features fused into the mask feature, finest first.
            level_strides: stride of each grid level after that resizing (small-mask filter).
            mask_stride: stride of the mask feature (4).
            num_grids: S_l per level.
            scale_ranges: (low, high) of √(wh) per level, input pixels.
            sigma: centre-sampling region scale.
            focal_alpha, focal_gamma, focal_weight: sigmoid focal loss.
            mask_dice_weight, mask_bce_weight: weights of the "mask" supervision losses.
            pixel_mean, pixel_std: input normalisation of the backbone (input channel order).
            loss_image_mean, loss_image_std: normalisation of the image given to the
                box-supervised losses (input channel order, 0-255 scale).
            structural_targets_fn: deep structural targets of the tree-filter term, or None.
        """
        super().__init__()
        if supervision not in ("box", "mask"):
            raise ValueError(
                f"MODEL.BOX2MASK.SUPERVISION must be 'box' or 'mask', got {supervision!r}"
            )
        if supervision == "box" and box_mask_loss is None:
            raise ValueError("SUPERVISION 'box' needs a box_mask_loss")
        if not (len(in_features) == len(num_grids) == len(scale_ranges) == len(level_strides)):
            raise ValueError(
                "BOX2MASK_C.IN_FEATURES, NUM_GRIDS and SCALE_RANGES must have the same length, got "
                f"{len(in_features)}, {len(num_grids)}, {len(scale_ranges)}"
            )
        self.backbone = backbone
        self.head = head
        self.mask_head = mask_head
        self.guide_head = guide_head
        self.postprocessor = postprocessor
        self.box_mask_loss = box_mask_loss
        self.structural_targets_fn = structural_targets_fn
        self.supervision = supervision
        self.num_classes = num_classes
        self.in_features = list(in_features)
        self.mask_in_features = list(mask_in_features)
        self.mask_stride = mask_stride
        self.num_grids = list(num_grids)
        self.scale_ranges = [tuple(r) for r in scale_ranges]
        self.sigma = sigma
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.focal_weight = focal_weight
        self.mask_dice_weight = mask_dice_weight
        self.mask_bce_weight = mask_bce_weight
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.register_buffer("loss_image_mean", torch.tensor(loss_image_mean).view(-1, 1, 1), False)
        self.register_buffer("loss_image_std", torch.tensor(loss_image_std).view(-1, 1, 1), False)
        cell_strides = [torch.full((s * s,), float(st)) for s, st in zip(num_grids, level_strides)]
        self.register_buffer("cell_strides", torch.cat(cell_strides), False)

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.BOX2MASK_C
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        strides = [shapes[f].stride for f in c.IN_FEATURES]
        if len(strides) >= 2:
            strides[0], strides[-1] = strides[0] * 2, strides[-2]
        lmean = list(cfg.MODEL.BOX2MASK.LOSS.IMAGE_MEAN)
        lstd = list(cfg.MODEL.BOX2MASK.LOSS.IMAGE_STD)
        if cfg.INPUT.FORMAT == "BGR":
            lmean, lstd = lmean[::-1], lstd[::-1]
        supervision = cfg.MODEL.BOX2MASK.SUPERVISION
        mask_loss = cfg.MODEL.BOX2MASK.LOSS.MASK_LOSS
        if mask_loss not in _MASK_LOSSES:
            raise ValueError(
                f"MODEL.BOX2MASK.LOSS.MASK_LOSS must be one of {sorted(_MASK_LOSSES)}, got "
                f"{mask_loss!r}"
            )
        levelset = supervision == "box" and mask_loss == "levelset"
        return {
            "backbone": backbone,
            "head": KernelCategoryHead(cfg, shapes),
            "mask_head": MaskFeatureHead(cfg, shapes),
            "guide_head": FeatureGuideHead(cfg) if levelset else None,
            "postprocessor": Box2MaskCPostProcessor(cfg),
            "box_mask_loss": _MASK_LOSSES[mask_loss](cfg) if supervision == "box" else None,
            "structural_targets_fn": build_structural_targets_fn(cfg),
            "supervision": supervision,
            "num_classes": cfg.MODEL.BOX2MASK.NUM_CLASSES,
            "in_features": c.IN_FEATURES,
            "mask_in_features": c.MASK_IN_FEATURES,
            "level_strides": strides,
            "mask_stride": shapes[c.MASK_IN_FEATURES[0]].stride,
            "num_grids": c.NUM_GRIDS,
            "scale_ranges": c.SCALE_RANGES,
            "sigma": c.SIGMA,
            "focal_alpha": c.FOCAL_ALPHA,
            "focal_gamma": c.FOCAL_GAMMA,
            "focal_weight": c.FOCAL_WEIGHT,
            "mask_dice_weight": cfg.MODEL.BOX2MASK.LOSS.MASK_DICE_WEIGHT,
            "mask_bce_weight": cfg.MODEL.BOX2MASK.LOSS.MASK_BCE_WEIGHT,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "loss_image_mean": lmean,
            "loss_image_std": lstd,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: detectron2 dataset-mapper outputs: "image" [3, H_i, W_i] (0-255,
                INPUT.FORMAT order), in training "instances" with gt_boxes, gt_classes (and
                gt_masks for SUPERVISION "mask"), optionally "height"/"width" of the output.
        Returns:
            training: dict of scalar losses; inference: ``[{"instances": Instances}]``.
        """
        raw = [x["image"].to(self.device).float() for x in batched_inputs]
        divisibility = self.backbone.size_divisibility
        images = ImageList.from_tensors(
            [(x - self.pixel_mean) / self.pixel_std for x in raw], divisibility
        )
        features = self.backbone(images.tensor)
        level_features = self._level_features([features[f] for f in self.in_features])
        category_logits, kernels = self.head(level_features)
        mask_features = self.mask_head([features[f] for f in self.mask_in_features])

        b, k = len(raw), self.num_classes
        category_logits = torch.cat(
            [c.permute(0, 2, 3, 1).reshape(b, -1, k) for c in category_logits], 1
        )
        kernels = torch.cat(
            [x.permute(0, 2, 3, 1).reshape(b, -1, x.shape[1]) for x in kernels], dim=1
        )  # [B, M, D]
        if self.training:
            gt_instances = [self._gt_instances(x["instances"]) for x in batched_inputs]
            return self.losses(
                category_logits, kernels, mask_features, gt_instances, raw, images.tensor.shape[-2:]
            )
        return self.inference(category_logits, kernels, mask_features, images, batched_inputs)

    def _gt_instances(self, instances: Instances) -> Instances:
        """Boxes and classes on the model's device; gt_masks only for SUPERVISION "mask"."""
        out = Instances(
            instances.image_size,
            gt_boxes=instances.gt_boxes.to(self.device),
            gt_classes=instances.gt_classes.to(self.device),
        )
        if self.supervision == "mask" and instances.has("gt_masks"):
            out.gt_masks = instances.gt_masks
        return out

    def _level_features(self, features: List[torch.Tensor]) -> List[torch.Tensor]:
        """First level downsampled ×0.5, last resized to the size of the one before it."""
        features = list(features)
        if len(features) >= 2:
            features[0] = F.interpolate(
                features[0], scale_factor=0.5, mode="bilinear", align_corners=False
            )
            features[-1] = F.interpolate(
                features[-1], size=features[-2].shape[-2:], mode="bilinear", align_corners=False
            )
        return features

    def losses(
        self,
        category_logits: torch.Tensor,
        kernels: torch.Tensor,
        mask_features: torch.Tensor,
        gt_instances: List[Instances],
        raw_images: List[torch.Tensor],
        input_size: Tuple[int, int],
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            category_logits: [B, M, K].
            kernels: [B, M, D].
            mask_features: [B, D, h, w].
            gt_instances: per image, gt_boxes in input pixels and gt_classes.
            raw_images: per image [3, H_i, W_i] unnormalised input images.
            input_size: (H, W) padded input size.
        Returns:
            "loss_cls" and the mask losses (box: "loss_mask_proj", "loss_levelset", "loss_lcm",
            or "loss_mask_proj", "loss_pairwise" with MASK_LOSS "boxinst"; mask:
            "loss_mask_dice", "loss_mask_bce").
        """
        k = self.num_classes
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
        num_pos = int(pos.sum())
        onehot = F.one_hot(labels, k + 1)[..., :k].to(category_logits.dtype)
        loss_cls = sigmoid_focal_loss_jit(
            category_logits, onehot, alpha=self.focal_alpha, gamma=self.focal_gamma, reduction="sum"
        ) * (self.focal_weight / max(num_pos, 1))

        d, h, w = mask_features.shape[1:]
        mask_logits = torch.cat(
            [
                (kernels[i][pos[i]] @ mask_features[i].reshape(d, h * w)).reshape(-1, h, w)
                for i in range(len(gt_instances))
            ]
        )  # [N, h, w]
        image_index = pos.nonzero()[:, 0]
        offsets = torch.tensor([0] + [len(x) for x in gt_instances], device=self.device).cumsum(0)
        matched = gt_index[pos] + offsets[image_index]  # [N] index into the batch's boxes

        losses = {"loss_cls": loss_cls}
        if self.supervision == "box":
            # Boxes only: gt_masks, even if present, are never read.
            boxes = torch.cat([x.gt_boxes.tensor for x in gt_instances])[matched] / self.mask_stride
            images = self._loss_images(raw_images, input_size, (h, w))
            guide = None if self.guide_head is None else self.guide_head(mask_features)
            losses.update(
                self.box_mask_loss(
                    mask_logits,
                    boxes,
                    image_index,
                    images,
                    guide=guide,
                    structural_targets_fn=self.structural_targets_fn,
                )
            )
        else:
            gt_masks = self._gt_masks(gt_instances, input_size, (h, w))[matched]
            losses.update(
                mask_supervised_loss(
                    mask_logits, gt_masks, self.mask_dice_weight, self.mask_bce_weight
                )
            )
        return losses

    def _loss_images(self, raw_images, input_size, mask_size) -> torch.Tensor:
        """[B, 3, h, w]: inputs normalised by LOSS.IMAGE_MEAN/STD, padded with 0, area-resized."""
        normed = [(x - self.loss_image_mean) / self.loss_image_std for x in raw_images]
        padded = normed[0].new_zeros((len(normed), 3, *input_size))
        for i, x in enumerate(normed):
            padded[i, :, : x.shape[1], : x.shape[2]] = x
        return F.interpolate(padded, size=mask_size, mode="area")

    def _gt_masks(self, gt_instances, input_size, mask_size) -> torch.Tensor:
        """All ground-truth masks of the batch, [ΣG, h, w] float in [0, 1] (area-resized)."""
        height, width = input_size
        out = []
        for inst in gt_instances:
            if not inst.has("gt_masks"):
                raise ValueError("MODEL.BOX2MASK.SUPERVISION 'mask' needs gt_masks from the mapper")
            m = inst.gt_masks
            if isinstance(m, PolygonMasks):
                m = BitMasks.from_polygon_masks(m, height, width).tensor
            else:
                m = m.tensor if isinstance(m, BitMasks) else m
                m = F.pad(m, (0, width - m.shape[-1], 0, height - m.shape[-2]))
            m = m.to(self.device, torch.float32)
            if len(m):
                m = F.interpolate(m[:, None], size=mask_size, mode="area")[:, 0]
            else:
                m = m.new_zeros((0, *mask_size))
            out.append(m)
        return torch.cat(out)

    @torch.no_grad()
    def inference(
        self,
        category_logits: torch.Tensor,
        kernels: torch.Tensor,
        mask_features: torch.Tensor,
        images: ImageList,
        batched_inputs: List[Dict],
    ) -> List[Dict[str, Instances]]:
        """Points-NMS on each level's sigmoid grid, then the per-image post-processing.

        Returns:
            per image {"instances": Instances} at the original size ("height"/"width").
        """
        b, k = len(batched_inputs), self.num_classes
        probs, start = [], 0
        for s in self.num_grids:
            grid = category_logits[:, start : start + s * s].sigmoid()
            grid = grid.reshape(b, s, s, k).permute(0, 3, 1, 2)
            probs.append(points_nms(grid).permute(0, 2, 3, 1).reshape(b, s * s, k))
            start += s * s
        probs = torch.cat(probs, dim=1)  # [B, M, K]
        h, w = mask_features.shape[-2:]
        results = []
        for i, (x, image_size) in enumerate(zip(batched_inputs, images.image_sizes)):
            output_size = (x.get("height", image_size[0]), x.get("width", image_size[1]))
            instances = self.postprocessor(
                probs[i],
                kernels[i],
                self.cell_strides,
                mask_features[i],
                input_size=(h * self.mask_stride, w * self.mask_stride),
                image_size=image_size,
                output_size=output_size,
            )
            results.append({"instances": instances})
        return results
