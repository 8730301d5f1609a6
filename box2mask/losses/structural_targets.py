"""Deep-structural level-set targets cat(T1, T2) of Box2Mask (docs/method.md §2.3 and §3).

``T1 = TreeFilter(p, guide = image, σ = 0.02)`` (no gradient to the image) and
``T2 = TreeFilter(T1, guide = F, σ = 1)`` with the gradient reaching the guide head F through
the edge weights. The level-set loss multiplies the targets by the box mask.

Scale of the image guide (what σ = 0.02 assumes). The public Box2Mask-T code feeds the tree
filter the network input image normalised per channel as ``(I - mean) / std`` with ImageNet
statistics in 0–255 units (mean 123.675, 116.28, 103.53; std 58.395, 57.12, 57.375), resized
bilinearly to the working size, and its distance is the squared L2 norm SUMMED over the three
channels (not averaged), with ``w = exp(-d² / 0.02)``. We keep exactly that: a step of 1 grey
level in every channel gives d² ≈ 3 / 57.6² ≈ 9e-4, w ≈ 0.96; a step of 10 levels gives
d² ≈ 0.09, w ≈ 0.01 (the filter stops at real edges, smooths sensor noise). Pass images
normalised that way. A model whose PIXEL_STD is 1 (detectron2's MSRA ResNet configs) must
divide its normalised image by ``IMAGE_GUIDE_STD`` first (or use σ ≈ 0.02 · 57.6² ≈ 66); an
image in [0, 1] would need σ ≈ 0.02 · (57.6 / 255)² ≈ 1e-3 for the same edge response.

Shape glossary: N instances, B images, G guide channels, h×w working (mask) resolution.
"""
import functools
from typing import Callable, Optional, Tuple

import torch

from box2mask.ops.tree_filter import tree_filter

__all__ = ["IMAGE_GUIDE_STD", "build_structural_targets_fn", "deep_structural_targets"]

# Per-channel (RGB) std in 0–255 units of the image normalisation that σ = 0.02 assumes.
IMAGE_GUIDE_STD: Tuple[float, float, float] = (58.395, 57.12, 57.375)


def deep_structural_targets(
    probs: torch.Tensor,
    images: torch.Tensor,
    guide: torch.Tensor,
    image_index: torch.Tensor,
    image_sigma: float = 0.02,
    feature_sigma: float = 1.0,
    trees: Optional[dict] = None,
) -> torch.Tensor:
    """Tree-filtered targets of the deep-structural level-set term.

    One MST per image and guide is built here and shared by all instances of that image.

    Args:
        probs: [N, h, w] mask probabilities p = sigmoid(logit) of N instances; the targets are
            differentiable in p.
        images: [B, 3, h, w] images normalised as ``(I - mean) / std`` with ImageNet mean and
            std in 0–255 units (see the module docstring); never receives a gradient.
        guide: [B, G, h, w] deep-feature guide F (e.g. a 3×3 conv head on the mask features);
            receives the gradient through the T2 edge weights.
        image_index: [N] integer, the image in [0, B) of each instance.
        image_sigma: σ of the image tree, ``w = exp(-d²/σ)``, d² summed over RGB.
        feature_sigma: σ of the deep-feature tree.
        trees: optional cache of the two MSTs ("image", "guide"): filled on the first call,
            reused by later calls with the same ``images`` and ``guide`` (e.g. the decoder
            layers of one batch); None builds them every call.

    Returns:
        [N, 2, h, w] = cat(T1, T2) along dim 1, float32 (float64 if the inputs are).
    """
    if probs.dim() != 3:
        raise ValueError(
            f"deep_structural_targets: probs must be [N, h, w], got {tuple(probs.shape)}"
        )
    if images.dim() != 4 or guide.dim() != 4:
        raise ValueError(
            "deep_structural_targets: images and guide must be [B, C, h, w], got "
            f"{tuple(images.shape)} and {tuple(guide.shape)}"
        )
    if images.shape[0] != guide.shape[0] or images.shape[-2:] != guide.shape[-2:]:
        raise ValueError(
            f"deep_structural_targets: images {tuple(images.shape)} and guide "
            f"{tuple(guide.shape)} must share B, h, w"
        )
    trees = {} if trees is None else trees
    t1, trees["image"] = tree_filter(
        probs.unsqueeze(1), images, image_sigma, image_index, tree=trees.get("image")
    )
    t2, trees["guide"] = tree_filter(
        t1, guide, feature_sigma, image_index, learn_guide=True, tree=trees.get("guide")
    )
    return torch.cat([t1, t2], 1)


def build_structural_targets_fn(cfg) -> Optional[Callable]:
    """``deep_structural_targets`` with the σ's of ``cfg.MODEL.BOX2MASK.LOSS``, or None when
    ``TREE_FILTER`` is off (the ablation: the deep-structural level-set term is skipped)."""
    loss_cfg = cfg.MODEL.BOX2MASK.LOSS
    if not loss_cfg.TREE_FILTER:
        return None
    return functools.partial(
        deep_structural_targets,
        image_sigma=loss_cfg.TREE_IMAGE_SIGMA,
        feature_sigma=loss_cfg.TREE_FEATURE_SIGMA,
    )
