"""Level-set losses: the region energy of docs/method.md §2.2 on the image and on given targets.

Shapes: N instances, B images, C target channels, h × w the map resolution.
"""

import torch

from ..ops.levelset import region_levelset_energy

__all__ = ["image_levelset_loss", "feature_levelset_loss", "expand_boxes"]


def expand_boxes(int_boxes, margin: int):
    """Grow integer boxes (exclusive ends) by ``margin`` pixels on every side (not clipped;
    the level-set op clips to the map)."""
    if margin == 0:
        return int_boxes
    return int_boxes + int_boxes.new_tensor([-margin, -margin, margin, margin])


def image_levelset_loss(probs, images, int_boxes, image_index, length_weight: float = 0.0):
    """Level-set energy with the image as data term (the low-level term).

    Args:
        probs: [N, h, w] mask probabilities.
        images: [B, 3, h, w] normalised images at the same resolution.
        int_boxes: [N, 4] long boxes (x0, y0, x1, y1), exclusive ends.
        image_index: [N] long, image of each instance.
        length_weight: γ of the length term (0 = off).

    Returns:
        [N] energies (region energy / box area).
    """
    return region_levelset_energy(probs, images, int_boxes, image_index, length_weight)


def feature_levelset_loss(probs, targets, int_boxes, length_weight: float = 0.0):
    """Level-set energy with per-instance targets (the deep-structural term, cat(T1, T2)).

    Args:
        probs: [N, h, w] mask probabilities.
        targets: [N, C, h, w] one target map per instance; gradients flow into it (and so to
            the guide head through the tree filter).
        int_boxes: [N, 4] long boxes, exclusive ends.
        length_weight: γ of the length term (0 = off).

    Returns:
        [N] energies.
    """
    index = torch.arange(probs.shape[0], device=probs.device)
    return region_levelset_energy(probs, targets, int_boxes, index, length_weight)
