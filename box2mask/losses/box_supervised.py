"""The box-supervised mask loss of Box2Mask: projection + level set + local consistency.

Shapes: N positive instances, B images, G guide channels, C' structural-target channels,
h × w the mask resolution, S the working size of the tree filter and the LCM.
"""

from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.utils.events import get_event_storage
from torch import nn

from ..ops.levelset import box_masks_from_int_boxes
from .boxinst import boxinst_pairwise_loss, color_similarity, lab_from_loss_images, warmup_factor
from .histogram import colour_bin_index, histogram_region_energy
from .lcm import local_consistency_loss
from .levelset import expand_boxes, feature_levelset_loss, image_levelset_loss
from .loss_inputs import loss_image_stats
from .projection import box_projection_loss, boxes_to_mask_grid

__all__ = ["BoxSupervisedMaskLoss"]


def _training_iteration() -> Optional[int]:
    """The trainer's current iteration (detectron2's EventStorage), or None outside training."""
    try:
        return get_event_storage().iter
    except AssertionError:  # no EventStorage: not inside a trainer
        return None


def _gaussian_blur(images, sigma: float):
    """Separable Gaussian blur of [B, C, h, w] with std ``sigma`` (pixels), edges replicated
    (works for maps smaller than the kernel)."""
    radius = max(1, int(3.0 * sigma + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    out = F.pad(images, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _resize(x, size):
    """Bilinear resize of [K, C, h, w] to size (h', w') (no-op when equal)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class BoxSupervisedMaskLoss(nn.Module):
    """Mask losses from boxes only (docs/method.md §2), per positive instance, averaged.

    ``loss_mask_proj``: box projection Dice. ``loss_levelset``: the region level-set energy
    on the image (mask resolution) plus, when ``structural_targets_fn`` is given, on the
    deep-structural targets cat(T1, T2) (working size). ``loss_lcm``: local consistency
    (working size). ``loss_outside``: BCE towards background of the margin ring around the
    box (with ``outside_weight`` > 0). ``loss_pairwise`` (with ``pairwise_weight`` > 0): BoxInst's
    colour pairwise term inside the box, which ties neighbouring pixels of similar LAB colour to
    the same phase.

    Which phase is the object: the two-phase energy is unchanged when object and background
    swap. With ``margin_is_background`` the energy runs over the box plus ``levelset_margin``
    pixels whose probability is clamped to 0, so their colour anchors the background mean c2
    and the phase that holds them is the background (docs/method.md §2.10).
    """

    @configurable
    def __init__(
        self,
        *,
        projection_weight: float = 3.0,
        levelset_image_weight: float = 0.05,
        levelset_feature_weight: float = 5.0,
        levelset_length_weight: float = 0.0,
        levelset_margin: int = 0,
        margin_is_background: bool = False,
        outside_weight: float = 0.0,
        far_outside_weight: float = 0.0,
        levelset_warmup_iters: int = 0,
        levelset_image_blur: float = 0.0,
        histogram_weight: float = 0.0,
        histogram_bins: int = 4,
        pairwise_weight: float = 0.0,
        pairwise_color_thresh: float = 0.3,
        image_mean: Sequence[float] = (123.675, 116.28, 103.53),
        image_std: Sequence[float] = (58.395, 57.12, 57.375),
        input_format: str = "RGB",
        min_box_pixels: int = 10,
        working_size: int = 96,
        lcm_weight: float = 0.2,
        lcm_dilation: int = 2,
        lcm_iters: int = 10,
        lcm_alpha: float = 0.3,
        lcm_detach: bool = True,
    ):
        """
        Args:
            projection_weight: weight of the box projection loss (3.0 C, 5.0 T).
            levelset_image_weight: λ1, weight of the image data term.
            levelset_feature_weight: λ2, weight of the deep-structural data term.
            levelset_length_weight: γ of the length term (0 = off).
            levelset_margin: pixels (mask resolution) added around each box for the
                level-set energy of the image term (0 = tight box); scaled to the working
                size for the structural term.
            margin_is_background: clamp the mask probability to 0 in that margin for the
                level-set energies (the pixels just outside a box are known background).
            outside_weight: weight of the BCE towards 0 of the mask logits in the margin ring
                (0 = off; needs levelset_margin > 0).
            far_outside_weight: weight of the BCE towards 0 of the mask logits beyond the
                ring: every pixel farther than ``levelset_margin`` from the box, which a box
                excludes from its instance exactly (0 = off).
            levelset_warmup_iters: training iterations of the linear ramp of the level-set,
                pairwise and LCM weights from 0 (projection alone first); 0 = no warm-up.
            levelset_image_blur: std (pixels at mask resolution) of a Gaussian blur of the
                image data term's image, so the energy compares colours averaged over texture
                finer than that scale (0 = off). The tree filter and the LCM see the unblurred
                image.
            histogram_weight, histogram_bins: weight of the colour-histogram region energy
                (:mod:`box2mask.losses.histogram`; 0 = off) and its bins per channel.
            pairwise_weight: weight of BoxInst's colour pairwise term over the pixels of the
                box and their 8 neighbours at dilation 2 (0 = off); ramped in with the
                level-set terms.
            pairwise_color_thresh: τ, LAB similarity exp(-‖Δlab‖ / 2) of the pairs that count.
            image_mean, image_std: normalisation of ``images`` (input channel order, 0-255
                scale: ``loss_image_stats``), undone to get the colours of the pairwise term.
            input_format: "RGB" or "BGR", channel order of ``images``.
            min_box_pixels: instances whose box covers fewer pixels at mask resolution get
                no mask loss.
            working_size: square size S of the structural term and the LCM (0 = mask size).
            lcm_weight, lcm_dilation, lcm_iters, lcm_alpha, lcm_detach: the LCM (weight 0
                turns it off); see :func:`box2mask.losses.lcm.local_consistency_loss`.
        """
        super().__init__()
        self.projection_weight = projection_weight
        self.levelset_image_weight = levelset_image_weight
        self.levelset_feature_weight = levelset_feature_weight
        self.levelset_length_weight = levelset_length_weight
        if outside_weight and levelset_margin <= 0:
            raise ValueError(
                "MODEL.BOX2MASK.LOSS.OUTSIDE_WEIGHT needs a ring around the box: set "
                f"LEVELSET_MARGIN > 0 (got {levelset_margin})"
            )
        self.levelset_margin = levelset_margin
        self.margin_is_background = margin_is_background
        self.outside_weight = outside_weight
        self.far_outside_weight = far_outside_weight
        self.levelset_warmup_iters = levelset_warmup_iters
        if levelset_image_blur < 0:
            raise ValueError(
                f"MODEL.BOX2MASK.LOSS.LEVELSET_IMAGE_BLUR must be >= 0, got {levelset_image_blur}"
            )
        self.levelset_image_blur = levelset_image_blur
        if histogram_bins < 1:
            raise ValueError(
                f"MODEL.BOX2MASK.LOSS.HISTOGRAM_BINS must be >= 1, got {histogram_bins}"
            )
        self.histogram_weight = histogram_weight
        self.histogram_bins = histogram_bins
        if input_format not in ("RGB", "BGR"):
            raise ValueError(f"INPUT.FORMAT must be 'RGB' or 'BGR', got {input_format!r}")
        self.pairwise_weight = pairwise_weight
        self.pairwise_color_thresh = pairwise_color_thresh
        self.bgr = input_format == "BGR"
        self.register_buffer("image_mean", torch.tensor(image_mean).view(3, 1, 1), False)
        self.register_buffer("image_std", torch.tensor(image_std).view(3, 1, 1), False)
        self.min_box_pixels = min_box_pixels
        self.working_size = working_size
        self.lcm_weight = lcm_weight
        self.lcm_dilation = lcm_dilation
        self.lcm_iters = lcm_iters
        self.lcm_alpha = lcm_alpha
        self.lcm_detach = lcm_detach

    @classmethod
    def from_config(cls, cfg):
        loss = cfg.MODEL.BOX2MASK.LOSS
        mean, std = loss_image_stats(cfg)
        return {
            "projection_weight": loss.PROJECTION_WEIGHT,
            "levelset_image_weight": loss.LEVELSET_IMAGE_WEIGHT,
            "levelset_feature_weight": loss.LEVELSET_FEATURE_WEIGHT,
            "levelset_length_weight": loss.LEVELSET_LENGTH_WEIGHT,
            "levelset_margin": loss.LEVELSET_MARGIN,
            "margin_is_background": loss.MARGIN_IS_BACKGROUND,
            "outside_weight": loss.OUTSIDE_WEIGHT,
            "far_outside_weight": loss.FAR_OUTSIDE_WEIGHT,
            "levelset_warmup_iters": loss.LEVELSET_WARMUP_ITERS,
            "levelset_image_blur": loss.LEVELSET_IMAGE_BLUR,
            "histogram_weight": loss.HISTOGRAM_WEIGHT,
            "histogram_bins": loss.HISTOGRAM_BINS,
            "pairwise_weight": loss.PAIRWISE_WEIGHT,
            "pairwise_color_thresh": loss.PAIRWISE_COLOR_THRESH,
            "image_mean": mean,
            "image_std": std,
            "input_format": cfg.INPUT.FORMAT,
            "min_box_pixels": loss.MIN_BOX_PIXELS,
            "working_size": loss.WORKING_SIZE,
            "lcm_weight": loss.LCM_WEIGHT,
            "lcm_dilation": loss.LCM_DILATION,
            "lcm_iters": loss.LCM_ITERS,
            "lcm_alpha": loss.LCM_ALPHA,
            "lcm_detach": loss.LCM_DETACH,
        }

    def forward(
        self,
        mask_logits,
        gt_boxes,
        image_index,
        images,
        guide=None,
        structural_targets_fn: Optional[Callable] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            mask_logits: [N, h, w] mask logits of the positive instances at mask resolution.
            gt_boxes: [N, 4] float (x0, y0, x1, y1) in mask-resolution pixels.
            image_index: [N] long, image of each instance.
            images: [B, 3, h, w] float normalised images resized to mask resolution.
            guide: [B, G, h, w] float or None, the deep-feature guide head F; resized to the
                working size and handed to ``structural_targets_fn``.
            structural_targets_fn: callable(probs [N, S, S], images [B, 3, S, S],
                guide [B, G, S, S] or None, image_index [N]) -> targets [N, C', S, S]
                (cat(T1, T2) from the tree filter), all at the working size S. When None,
                the deep-structural term is skipped (contributes 0), whatever ``guide`` is.

        Returns:
            {"loss_mask_proj", "loss_levelset", "loss_lcm"} (and "loss_outside" with
            ``outside_weight``, "loss_far_outside" with ``far_outside_weight``, "loss_pairwise"
            with ``pairwise_weight``): scalars, each
            the weighted mean over the instances whose box covers >= ``min_box_pixels`` pixels.
            With no such instance they are zeros
            connected to the graph of ``mask_logits``.
        """
        n, h, w = mask_logits.shape
        zero = mask_logits.sum() * 0.0
        zeros = {"loss_mask_proj": zero, "loss_levelset": zero, "loss_lcm": zero}
        if self.outside_weight:
            zeros["loss_outside"] = zero
        if self.far_outside_weight:
            zeros["loss_far_outside"] = zero
        if self.pairwise_weight:
            zeros["loss_pairwise"] = zero
        if n == 0:
            return zeros
        with torch.autocast(mask_logits.device.type, enabled=False):
            int_boxes, box_masks = boxes_to_mask_grid(gt_boxes.float(), h, w)
            keep = box_masks.sum((1, 2)) >= self.min_box_pixels
            if not bool(keep.any()):
                return zeros
            probs = mask_logits[keep].float().sigmoid()
            boxes_f, int_boxes = gt_boxes[keep].float(), int_boxes[keep]
            box_masks, image_index = box_masks[keep], image_index[keep].long()
            images = images.float()
            iteration = _training_iteration() if self.training else None
            ramp = 1.0
            if iteration is not None:
                ramp = warmup_factor(iteration, self.levelset_warmup_iters)

            loss_proj = box_projection_loss(probs, box_masks)
            margin_boxes = expand_boxes(int_boxes, self.levelset_margin)
            # the margin's pixels count as background (p = 0) for the energies
            probs_ls = probs * box_masks if self.margin_is_background else probs
            loss_ls = probs.new_zeros(len(probs))
            if self.levelset_image_weight:
                images_ls = images
                if self.levelset_image_blur:
                    images_ls = _gaussian_blur(images, self.levelset_image_blur)
                loss_ls = loss_ls + self.levelset_image_weight * image_levelset_loss(
                    probs_ls, images_ls, margin_boxes, image_index, self.levelset_length_weight
                )
            if self.histogram_weight or self.outside_weight or self.far_outside_weight:
                grown = box_masks_from_int_boxes(margin_boxes, h, w, probs.dtype)  # box + ring
            if self.histogram_weight:
                bins = colour_bin_index(images, self.histogram_bins)
                loss_ls = loss_ls + self.histogram_weight * histogram_region_energy(
                    probs_ls, bins, grown, image_index, self.histogram_bins**3
                )
            if self.outside_weight or self.far_outside_weight:
                bce = F.softplus(mask_logits[keep].float())  # -log(1 - p)
            if self.outside_weight:
                ring = grown - box_masks
                loss_outside = (bce * ring).sum((1, 2)) / ring.sum((1, 2)).clamp(min=1.0)
            if self.far_outside_weight:
                far = 1.0 - grown
                loss_far = (bce * far).sum((1, 2)) / far.sum((1, 2)).clamp(min=1.0)

            if self.pairwise_weight:
                with torch.no_grad():
                    lab = lab_from_loss_images(images, self.image_mean, self.image_std, self.bgr)
                    similarity = color_similarity(lab)[image_index]
                loss_pair = boxinst_pairwise_loss(
                    mask_logits[keep].float(), similarity, box_masks, self.pairwise_color_thresh
                )

            need_ws = (structural_targets_fn is not None and self.levelset_feature_weight) or (
                self.lcm_weight
            )
            if need_ws:
                size = (self.working_size,) * 2 if self.working_size > 0 else (h, w)
                sy, sx = size[0] / h, size[1] / w
                probs_ws = _resize(probs[:, None], size)[:, 0]
                if self.margin_is_background:
                    probs_ls_ws = _resize(probs_ls[:, None], size)[:, 0]
                images_ws = _resize(images, size)
                scale = boxes_f.new_tensor([sx, sy, sx, sy])
                int_boxes_ws, box_masks_ws = boxes_to_mask_grid(boxes_f * scale, *size)

            if structural_targets_fn is not None and self.levelset_feature_weight:
                guide_ws = None if guide is None else _resize(guide.float(), size)
                targets = structural_targets_fn(probs_ws, images_ws, guide_ws, image_index)
                margin = round(self.levelset_margin * max(sx, sy))
                loss_ls = loss_ls + self.levelset_feature_weight * feature_levelset_loss(
                    probs_ls_ws if self.margin_is_background else probs_ws,
                    targets.float(),
                    expand_boxes(int_boxes_ws, margin),
                    self.levelset_length_weight,
                )

            if self.lcm_weight:
                loss_lcm = (
                    self.lcm_weight
                    * local_consistency_loss(
                        probs_ws,
                        images_ws,
                        image_index,
                        box_masks_ws,
                        self.lcm_dilation,
                        self.lcm_iters,
                        self.lcm_alpha,
                        self.lcm_detach,
                    ).mean()
                )
            else:
                loss_lcm = zero

        losses = {
            "loss_mask_proj": self.projection_weight * loss_proj.mean(),
            "loss_levelset": ramp * loss_ls.mean(),
            "loss_lcm": ramp * loss_lcm,
        }
        if self.outside_weight:
            losses["loss_outside"] = self.outside_weight * loss_outside.mean()
        if self.far_outside_weight:
            losses["loss_far_outside"] = self.far_outside_weight * loss_far.mean()
        if self.pairwise_weight:
            losses["loss_pairwise"] = (ramp * self.pairwise_weight) * loss_pair
        return losses
