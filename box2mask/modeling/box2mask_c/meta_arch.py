"""Box2Mask-C: the CNN (SOLOv2-style) Box2Mask, trained from boxes via level-set losses.

Glossary: B images, L grid levels, S_l grid size, M = Σ_l S_l² cells per image, K classes,
D dynamic-kernel size, h × w mask resolution (stride 4 of the padded input H × W).
"""

from typing import Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.structures import ImageList, Instances

from ...losses import LossImages
from ..guide_head import FeatureGuideHead
from .criterion import Box2MaskCCriterion
from .kernel_category_head import KernelCategoryHead
from .mask_feature_head import MaskFeatureHead
from .postprocess import Box2MaskCPostProcessor, points_nms

__all__ = ["Box2MaskC"]


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
        criterion: Box2MaskCCriterion,
        loss_images: LossImages,
        postprocessor: Box2MaskCPostProcessor,
        num_classes: int,
        in_features: Sequence[str],
        mask_in_features: Sequence[str],
        level_strides: Sequence[int],
        mask_stride: int,
        num_grids: Sequence[int],
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
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
            criterion: the training losses.
            loss_images: network input → the level-set data term's image.
            postprocessor: inference of one image.
            num_classes: K.
            in_features: backbone features for the grid levels; the first is downsampled
                ×0.5 and the last resized to the one before it.
            mask_in_features: backbone features fused into the mask feature, finest first.
            level_strides: stride of each grid level after that resizing (small-mask filter).
            mask_stride: stride of the mask feature (4).
            num_grids: S_l per level.
            pixel_mean, pixel_std: input normalisation of the backbone (input channel order).
        """
        super().__init__()
        if not (len(in_features) == len(num_grids) == len(level_strides)):
            raise ValueError(
                "BOX2MASK_C.IN_FEATURES and NUM_GRIDS must have the same length, got "
                f"{len(in_features)}, {len(num_grids)}"
            )
        self.backbone = backbone
        self.head = head
        self.mask_head = mask_head
        self.guide_head = guide_head
        self.criterion = criterion
        self.loss_images = loss_images
        self.postprocessor = postprocessor
        self.num_classes = num_classes
        self.in_features = list(in_features)
        self.mask_in_features = list(mask_in_features)
        self.mask_stride = mask_stride
        self.num_grids = list(num_grids)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
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
        if len(c.SCALE_RANGES) != len(c.NUM_GRIDS):
            raise ValueError(
                "BOX2MASK_C.NUM_GRIDS and SCALE_RANGES must have the same length, got "
                f"{len(c.NUM_GRIDS)}, {len(c.SCALE_RANGES)}"
            )
        mask_stride = shapes[c.MASK_IN_FEATURES[0]].stride
        criterion = Box2MaskCCriterion(cfg, mask_stride)
        uses_guide = Box2MaskCCriterion.uses_guide(cfg)
        return {
            "backbone": backbone,
            "head": KernelCategoryHead(cfg, shapes),
            "mask_head": MaskFeatureHead(cfg, shapes),
            "guide_head": FeatureGuideHead(cfg, c.KERNEL_DIM) if uses_guide else None,
            "criterion": criterion,
            "loss_images": LossImages(cfg),
            "postprocessor": Box2MaskCPostProcessor(cfg),
            "num_classes": cfg.MODEL.BOX2MASK.NUM_CLASSES,
            "in_features": c.IN_FEATURES,
            "mask_in_features": c.MASK_IN_FEATURES,
            "level_strides": strides,
            "mask_stride": mask_stride,
            "num_grids": c.NUM_GRIDS,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
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
        category_logits, kernels, mask_features = self.forward_heads(images.tensor)

        b, k = len(raw), self.num_classes
        category_logits = torch.cat(
            [c.permute(0, 2, 3, 1).reshape(b, -1, k) for c in category_logits], 1
        )
        kernels = torch.cat(
            [x.permute(0, 2, 3, 1).reshape(b, -1, x.shape[1]) for x in kernels], dim=1
        )  # [B, M, D]
        if self.training:
            gt_instances = [self._gt_instances(x["instances"]) for x in batched_inputs]
            input_size = images.tensor.shape[-2:]
            return self.criterion(
                category_logits,
                kernels,
                mask_features,
                gt_instances,
                self.loss_images(images.tensor, mask_features.shape[-2:]),
                input_size,
                guide=None if self.guide_head is None else self.guide_head(mask_features),
            )
        return self.inference(category_logits, kernels, mask_features, images, batched_inputs)

    def forward_heads(self, images: torch.Tensor):
        """The network without assignment or post-processing (also what ``tools/export.py``
        exports).

        Args:
            images: [B, 3, H, W] normalised, padded input.
        Returns:
            category_logits: per level [B, K, S_l, S_l]; kernels: per level [B, D, S_l, S_l];
            mask_features: [B, D, h, w].
        """
        features = self.backbone(images)
        level_features = self._level_features([features[f] for f in self.in_features])
        category_logits, kernels = self.head(level_features)
        mask_features = self.mask_head([features[f] for f in self.mask_in_features])
        return category_logits, kernels, mask_features

    def _gt_instances(self, instances: Instances) -> Instances:
        """Boxes and classes on the model's device; gt_masks only for SUPERVISION "mask"."""
        out = Instances(
            instances.image_size,
            gt_boxes=instances.gt_boxes.to(self.device),
            gt_classes=instances.gt_classes.to(self.device),
        )
        if self.criterion.supervision == "mask" and instances.has("gt_masks"):
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
