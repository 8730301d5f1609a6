"""The BoxInst baseline mask loss (Tian et al., CVPR 2021): box projection + colour pairwise.

Written from the BoxInst paper and AdelaiDet's definitions, so that Box2Mask-C can be trained
with it instead of the level-set loss (``MODEL.BOX2MASK.LOSS.MASK_LOSS: boxinst``):

- projection: Dice of the x/y max-projections of the mask and of the box (shared with Box2Mask,
  :func:`box2mask.losses.projection.box_projection_loss`);
- pairwise: for each pixel i inside the box and each of its 8 neighbours j at dilation 2 whose
  LAB colour similarity exp(-||lab_i - lab_j||₂ / 2) is >= 0.3, the negative log-probability
  that i and j take the same label, -log(p_i p_j + (1 - p_i)(1 - p_j)); averaged over all such
  (i, j) pairs of the batch and ramped up linearly over the first ``warmup_iters`` steps.

Shapes: N positive instances, B images, h × w the mask resolution, K = k² - 1 neighbours.
"""

from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from torch import nn

from .loss_inputs import loss_image_stats
from .projection import box_projection_loss, boxes_to_mask_grid

__all__ = [
    "BoxInstMaskLoss",
    "boxinst_pairwise_loss",
    "color_similarity",
    "lab_from_loss_images",
    "pairwise_log_term",
    "rgb_to_lab",
    "unfold_without_center",
    "warmup_factor",
]

# sRGB (D65) -> CIE XYZ, and the D65 white point (the matrix of OpenCV and scikit-image).
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.950456, 1.0, 1.088754)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) of sRGB images, as OpenCV's float ``cvtColor(..., COLOR_RGB2Lab)``.

    Args:
        rgb: [B, 3, h, w] float sRGB in [0, 1] (R, G, B channel order).

    Returns:
        [B, 3, h, w] float: L in [0, 100], a and b roughly in [-128, 127].
    """
    rgb = rgb.clamp(0.0, 1.0)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = rgb.new_tensor(_RGB_TO_XYZ) / rgb.new_tensor(_WHITE_D65)[:, None]
    xyz = torch.einsum("cd,bdhw->bchw", m, linear)  # white-normalised X/Xn, Y/Yn, Z/Zn
    # Cube root with the linear segment near 0 (t <= (6/29)³), continuous at the joint.
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1.0 / 3.0), 7.787 * xyz + 16.0 / 116)
    fx, fy, fz = f.unbind(1)
    lum = torch.where(xyz[:, 1] > 0.008856, 116.0 * fy - 16.0, 903.3 * xyz[:, 1])
    return torch.stack([lum, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_from_loss_images(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, bgr: bool
) -> torch.Tensor:
    """CIE L*a*b* of loss images normalised as ``(x - mean) / std`` (input channel order).

    Args:
        images: [B, 3, h, w] normalised images; padding (0) becomes the mean colour.
        mean, std: [3, 1, 1] float, 0-255 scale (``loss_image_stats``).
        bgr: the channels are B, G, R.

    Returns:
        [B, 3, h, w] LAB (:func:`rgb_to_lab`).
    """
    rgb = (images * std + mean) / 255.0
    return rgb_to_lab(rgb.flip(1) if bgr else rgb)


def unfold_without_center(x: torch.Tensor, kernel_size: int, dilation: int) -> torch.Tensor:
    """The k² - 1 neighbours of every pixel on a dilated k × k grid (zero outside the map).

    Args:
        x: [B, C, h, w].
        kernel_size: odd k.
        dilation: spacing of the grid, pixels.

    Returns:
        [B, C, k² - 1, h, w]: neighbour n of pixel (y, x) in row-major grid order, centre left
        out.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"pairwise kernel size must be odd, got {kernel_size}")
    b, c, h, w = x.shape
    padding = dilation * (kernel_size - 1) // 2
    cols = F.unfold(x, kernel_size=kernel_size, dilation=dilation, padding=padding)
    cols = cols.reshape(b, c, kernel_size * kernel_size, h, w)
    centre = kernel_size * kernel_size // 2
    return torch.cat([cols[:, :, :centre], cols[:, :, centre + 1 :]], dim=2)


def color_similarity(lab: torch.Tensor, kernel_size: int = 3, dilation: int = 2) -> torch.Tensor:
    """BoxInst's colour similarity of each pixel with its neighbours.

    Args:
        lab: [B, 3, h, w] LAB images.
        kernel_size, dilation: the neighbourhood (3 and 2 in BoxInst).

    Returns:
        [B, K, h, w] exp(-||lab_i - lab_j||₂ / 2) in (0, 1]; neighbours outside the map
        compare with zero (L = 0, black) as in the original.
    """
    diff = lab[:, :, None] - unfold_without_center(lab, kernel_size, dilation)
    return torch.exp(-0.5 * torch.linalg.vector_norm(diff, dim=1))


def pairwise_log_term(mask_logits: torch.Tensor, kernel_size: int = 3, dilation: int = 2):
    """-log P(same label) of each pixel and each neighbour, from mask logits.

    P(same) = σ(x_i)σ(x_j) + σ(-x_i)σ(-x_j); computed as a log-sum-exp of log-sigmoids so
    that saturated logits neither underflow to log(0) nor lose their gradient.

    Args:
        mask_logits: [N, h, w].
        kernel_size, dilation: the neighbourhood.

    Returns:
        [N, K, h, w] >= 0. Neighbours outside the map are compared with logit 0 (p = 0.5);
        callers mask them out through the colour-similarity threshold or the box.
    """
    x = mask_logits[:, None]  # [N, 1, h, w]
    log_fg, log_bg = F.logsigmoid(x), F.logsigmoid(-x)
    same_fg = log_fg[:, :, None] + unfold_without_center(log_fg, kernel_size, dilation)
    same_bg = log_bg[:, :, None] + unfold_without_center(log_bg, kernel_size, dilation)
    return -torch.logaddexp(same_fg, same_bg)[:, 0]


def boxinst_pairwise_loss(
    mask_logits: torch.Tensor,
    similarity: torch.Tensor,
    box_masks: torch.Tensor,
    color_thresh: float = 0.3,
    kernel_size: int = 3,
    dilation: int = 2,
) -> torch.Tensor:
    """BoxInst's pairwise loss, averaged over the (pixel, neighbour) pairs that count.

    A pair counts when its centre pixel lies in the instance's box and the colour similarity
    is >= ``color_thresh``.

    Args:
        mask_logits: [N, h, w].
        similarity: [N, K, h, w] colour similarity of each instance's image.
        box_masks: [N, h, w] {0, 1} box masks.
        color_thresh: τ (0.3).
        kernel_size, dilation: the neighbourhood (must match ``similarity``).

    Returns:
        scalar: Σ weight · (-log P(same)) / max(Σ weight, 1); 0 (connected to the graph) when no
        pair counts, e.g. with empty boxes.
    """
    terms = pairwise_log_term(mask_logits, kernel_size, dilation)
    weights = (similarity >= color_thresh).to(terms.dtype) * box_masks[:, None].to(terms.dtype)
    return (terms * weights).sum() / weights.sum().clamp_min(1.0)


def warmup_factor(iteration: int, warmup_iters: int) -> float:
    """Linear warm-up min(iteration / warmup_iters, 1) (1 when warmup_iters <= 0)."""
    if warmup_iters <= 0:
        return 1.0
    return min(float(iteration) / float(warmup_iters), 1.0)


class BoxInstMaskLoss(nn.Module):
    """The BoxInst mask losses, a drop-in alternative to ``BoxSupervisedMaskLoss``.

    ``loss_mask_proj``: box projection Dice (mean over instances). ``loss_pairwise``: the
    colour pairwise term times the warm-up factor. The step counter that drives the warm-up
    is a buffer (``iteration``), advanced by one on every training-mode forward and saved
    with the checkpoint, so a resumed run continues the ramp.
    """

    @configurable
    def __init__(
        self,
        *,
        projection_weight: float = 1.0,
        pairwise_weight: float = 1.0,
        color_thresh: float = 0.3,
        warmup_iters: int = 10000,
        pairwise_size: int = 3,
        pairwise_dilation: int = 2,
        image_mean: Sequence[float] = (123.675, 116.28, 103.53),  # RGB input
        image_std: Sequence[float] = (58.395, 57.12, 57.375),
        input_format: str = "RGB",
    ):
        """
        Args:
            projection_weight: weight of the projection Dice (1.0 in BoxInst).
            pairwise_weight: weight of the pairwise term (1.0 in BoxInst).
            color_thresh: τ, LAB similarity threshold of the pairs that count (0.3).
            warmup_iters: training steps of the linear ramp of the pairwise term (10000 in
                the paper's 90k-step schedule; 0 = no warm-up).
            pairwise_size, pairwise_dilation: neighbourhood, k × k grid at this dilation (3, 2).
            image_mean, image_std: normalisation of the ``images`` handed to ``forward``
                (input channel order, 0-255 scale: ``loss_image_stats``); undone to get the
                colours back.
            input_format: "RGB" or "BGR", channel order of ``images``.
        """
        super().__init__()
        if input_format not in ("RGB", "BGR"):
            raise ValueError(
                f"INPUT.FORMAT must be 'RGB' or 'BGR' for BoxInst, got {input_format!r}"
            )
        self.projection_weight = projection_weight
        self.pairwise_weight = pairwise_weight
        self.color_thresh = color_thresh
        self.warmup_iters = warmup_iters
        self.pairwise_size = pairwise_size
        self.pairwise_dilation = pairwise_dilation
        self.bgr = input_format == "BGR"
        self.register_buffer("image_mean", torch.tensor(image_mean).view(3, 1, 1), False)
        self.register_buffer("image_std", torch.tensor(image_std).view(3, 1, 1), False)
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    @classmethod
    def from_config(cls, cfg):
        loss = cfg.MODEL.BOX2MASK.LOSS
        mean, std = loss_image_stats(cfg)
        return {
            "projection_weight": loss.BOXINST_PROJECTION_WEIGHT,
            "pairwise_weight": loss.BOXINST_PAIRWISE_WEIGHT,
            "color_thresh": loss.BOXINST_COLOR_THRESH,
            "warmup_iters": loss.BOXINST_WARMUP_ITERS,
            "image_mean": mean,
            "image_std": std,
            "input_format": cfg.INPUT.FORMAT,
        }

    def lab_images(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, h, w] normalised images (input order) -> [B, 3, h, w] LAB.

        Padding (0 after normalisation) becomes the mean colour.
        """
        return lab_from_loss_images(images, self.image_mean, self.image_std, self.bgr)

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
            images: [B, 3, h, w] float images normalised by ``image_mean``/``image_std``
                (input channel order), at mask resolution.
            guide, structural_targets_fn: accepted for interface parity with
                ``BoxSupervisedMaskLoss`` and ignored.

        Returns:
            {"loss_mask_proj", "loss_pairwise"}: scalars. With no instance both are zeros
            connected to the graph of ``mask_logits``.
        """
        if self.training:
            self.iteration += 1
        n, h, w = mask_logits.shape
        zero = mask_logits.sum() * 0.0
        if n == 0:
            return {"loss_mask_proj": zero, "loss_pairwise": zero}
        with torch.autocast(mask_logits.device.type, enabled=False):
            logits = mask_logits.float()
            _, box_masks = boxes_to_mask_grid(gt_boxes.float(), h, w)
            loss_proj = box_projection_loss(logits.sigmoid(), box_masks).mean()
            with torch.no_grad():
                lab = self.lab_images(images.float())
                similarity = color_similarity(lab, self.pairwise_size, self.pairwise_dilation)
            loss_pair = boxinst_pairwise_loss(
                logits,
                similarity[image_index.long()],
                box_masks,
                self.color_thresh,
                self.pairwise_size,
                self.pairwise_dilation,
            )
        ramp = warmup_factor(int(self.iteration), self.warmup_iters)
        return {
            "loss_mask_proj": self.projection_weight * loss_proj,
            "loss_pairwise": (self.pairwise_weight * ramp) * loss_pair,
        }
