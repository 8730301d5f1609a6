"""Box2Mask-T: a Mask2Former-style model trained from boxes (backbone → MSDeformAttn pixel
decoder → masked-attention transformer decoder → box-level matching and level-set losses).

Shape glossary: B images, Q queries, C classes, H_p×W_p padded input, H×W mask resolution
(H_p / common_stride), k instances kept per image.
"""

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.structures import Boxes, ImageList, Instances
from torch import nn

from ...losses import LossImages, masks_at_mask_resolution
from .criterion import Box2MaskTCriterion
from ..mask_postprocess import masks_to_boxes, resample_to_output
from .pixel_decoder import MSDeformAttnPixelDecoder
from .transformer_decoder import MultiScaleMaskedTransformerDecoder

__all__ = ["Box2MaskT", "instance_inference"]


def instance_inference(
    pred_logits: torch.Tensor,
    pred_masks: torch.Tensor,
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
    *,
    padded_size: Tuple[int, int],
    topk: int = 100,
    mask_logit_threshold: float = 0.0,
) -> Instances:
    """Mask2Former-style instance post-processing of one image (no NMS).

    Softmax over C+1, drop no-object, top-k over queries × classes, binary mask = logit >
    ``mask_logit_threshold`` at output size, score = class probability × maskness (mean probability
    inside the binary mask), boxes from the binary masks.

    Args:
        pred_logits: [Q, C+1] class logits.
        pred_masks: [Q, H, W] mask logits over the padded input (mask resolution).
        image_size: (h, w) of the un-padded network input.
        padded_size: (H_p, W_p) of the padded network input the masks cover.
        output_size: (height, width) of the original image the instances refer to.
        topk: instances kept (at most Q·C).
        mask_logit_threshold: mask-logit threshold.
    Returns:
        Instances of ``output_size`` with pred_masks [k, height, width] bool, pred_boxes,
        scores [k], pred_classes [k] long.
    """
    num_classes = pred_logits.shape[1] - 1
    scores = F.softmax(pred_logits.float(), dim=-1)[:, :-1]  # [Q, C]
    k = min(topk, scores.numel())
    scores, flat = scores.flatten().topk(k, sorted=True)
    classes = flat % num_classes
    query = torch.div(flat, num_classes, rounding_mode="floor")

    # Only the k selected masks are resampled, in one bilinear step straight from mask resolution
    # to the output size (no [k, H_p, W_p] intermediate): output pixel centres are mapped into
    # the un-padded input region, which is the top-left (h, w) part of the padded extent the
    # masks cover, so the padding is never sampled.
    masks = resample_to_output(pred_masks[query].float(), image_size, output_size, padded_size)

    binary = masks > mask_logit_threshold  # [k, height, width]
    prob = masks.sigmoid()
    area = binary.flatten(1).sum(1)
    maskness = (prob * binary).flatten(1).sum(1) / area.clamp(min=1)
    result = Instances(tuple(output_size))
    result.pred_masks = binary
    result.pred_boxes = Boxes(masks_to_boxes(binary))
    result.scores = scores * maskness
    result.pred_classes = classes
    return result


@META_ARCH_REGISTRY.register()
class Box2MaskT(nn.Module):
    """Box2Mask-T meta-architecture (``MODEL.META_ARCHITECTURE: Box2MaskT``).

    Input: detectron2's list of dicts with "image" ([3, H, W] uint8 in ``INPUT.FORMAT``),
    optionally "height"/"width" (output size) and, in training, "instances" with gt_boxes,
    gt_classes (and gt_masks for ``SUPERVISION mask``).
    Output: training — dict of losses; inference — ``[{"instances": Instances}]``.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        pixel_decoder: nn.Module,
        transformer_decoder: nn.Module,
        criterion: nn.Module,
        loss_images: LossImages,
        pixel_mean: Tuple[float, ...],
        pixel_std: Tuple[float, ...],
        size_divisibility: int = 32,
        test_topk_per_image: int = 100,
        mask_logit_threshold: float = 0.0,
        use_gt_masks: bool = False,
    ):
        """
        Args:
            backbone: detectron2 backbone producing the pixel decoder's features.
            pixel_decoder: :class:`MSDeformAttnPixelDecoder`.
            transformer_decoder: :class:`MultiScaleMaskedTransformerDecoder`.
            criterion: :class:`Box2MaskTCriterion`.
            loss_images: network input → the image of the level-set, tree-filter and LCM terms.
            pixel_mean, pixel_std: per-channel normalisation of the input (0–255 scale).
            size_divisibility: inputs are padded to a multiple of this.
            test_topk_per_image: instances kept per image at inference (TEST.DETECTIONS_PER_IMAGE).
            mask_logit_threshold: mask-logit threshold of the binary masks.
            use_gt_masks: pass ground-truth masks to the criterion (``SUPERVISION mask``).
        """
        super().__init__()
        self.backbone = backbone
        self.pixel_decoder = pixel_decoder
        self.transformer_decoder = transformer_decoder
        self.criterion = criterion
        self.size_divisibility = size_divisibility
        self.test_topk_per_image = test_topk_per_image
        self.mask_logit_threshold = mask_logit_threshold
        self.use_gt_masks = use_gt_masks
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.loss_images = loss_images

    @classmethod
    def from_config(cls, cfg):
        t = cfg.MODEL.BOX2MASK_T
        backbone = build_backbone(cfg)
        pixel_decoder = MSDeformAttnPixelDecoder(cfg, backbone.output_shape())
        return {
            "backbone": backbone,
            "pixel_decoder": pixel_decoder,
            "transformer_decoder": MultiScaleMaskedTransformerDecoder(cfg, t.CONVS_DIM),
            "criterion": Box2MaskTCriterion(cfg),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "loss_images": LossImages(cfg),
            "size_divisibility": t.SIZE_DIVISIBILITY,
            "test_topk_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
            "mask_logit_threshold": t.MASK_LOGIT_THRESHOLD,
            "use_gt_masks": cfg.MODEL.BOX2MASK.SUPERVISION == "mask",
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: List[Dict]) -> ImageList:
        """Normalise and pad to ``size_divisibility``: tensor [B, 3, H_p, W_p]."""
        images = [
            (x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs
        ]
        return ImageList.from_tensors(images, self.size_divisibility)

    def forward(self, batched_inputs: List[Dict]):
        """See the class docstring."""
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        mask_features, _, multi_scale = self.pixel_decoder.forward_features(features)
        outputs = self.transformer_decoder(multi_scale, mask_features)

        if self.training:
            mask_size = outputs["pred_masks"].shape[-2:]
            targets = self.prepare_targets(batched_inputs, images, mask_size)
            return self.criterion(
                outputs, targets, self.loss_images(images.tensor, mask_size), mask_features
            )

        results = []
        for logits, masks, x, size in zip(
            outputs["pred_logits"], outputs["pred_masks"], batched_inputs, images.image_sizes
        ):
            out_size = (x.get("height", size[0]), x.get("width", size[1]))
            results.append(
                {
                    "instances": instance_inference(
                        logits,
                        masks,
                        size,
                        out_size,
                        padded_size=images.tensor.shape[-2:],
                        topk=self.test_topk_per_image,
                        mask_logit_threshold=self.mask_logit_threshold,
                    )
                }
            )
        return results

    def prepare_targets(
        self, batched_inputs: List[Dict], images: ImageList, mask_size: Tuple[int, int]
    ) -> List[Dict[str, torch.Tensor]]:
        """Per image: "labels" [n], "boxes" [n, 4] in mask-resolution pixels and, with
        ``use_gt_masks``, "masks" [n, H, W] (GT masks padded, then resized to mask resolution).
        """
        pad_h, pad_w = images.tensor.shape[-2:]
        h, w = mask_size
        scale = torch.tensor([w / pad_w, h / pad_h, w / pad_w, h / pad_h], device=self.device)
        targets = []
        for x in batched_inputs:
            inst = x["instances"].to(self.device)
            target = {
                "labels": inst.gt_classes.long(),
                "boxes": inst.gt_boxes.tensor.float() * scale,
            }
            if self.use_gt_masks:
                if not inst.has("gt_masks"):
                    raise ValueError(
                        "SUPERVISION 'mask' needs gt_masks in the instances: use the "
                        "box-supervised mapper with MODEL.BOX2MASK.SUPERVISION mask (it keeps "
                        "the masks)"
                    )
                target["masks"] = masks_at_mask_resolution(
                    inst.gt_masks, inst.image_size, (pad_h, pad_w), (h, w)
                )
            targets.append(target)
        return targets
