"""Masks for given boxes on one image, by each method of ``python -m box2mask.annotate``.

Shapes: N boxes, H × W the image; boxes are float xyxy pixels, already clipped to the image.
Every function returns [N, H, W] bool masks inside their boxes; an all-False mask means the
method could not fill that box (the caller falls back to the box).
"""
from typing import Tuple

import cv2
import numpy as np
import torch
from detectron2.structures import Boxes, Instances, pairwise_iou

from .evaluation.box_baselines import box_fill_masks
from .ops import evolve_levelset

__all__ = ["box_fill_masks", "evolution_masks", "grabcut_masks", "match_predictions"]


def evolution_masks(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The level-set evolution op in each box (``box2mask.ops.evolve_levelset``, defaults).

    Args:
        image: [H, W, 3] uint8 RGB. boxes: [N, 4] float xyxy pixels.
    Returns:
        [N, H, W] bool.
    """
    image_t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    boxes_t = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    return evolve_levelset(image_t, boxes_t).numpy()


def grabcut_masks(image: np.ndarray, boxes: np.ndarray, iterations: int = 5) -> np.ndarray:
    """OpenCV's GrabCut initialised with each box (``cv2.GC_INIT_WITH_RECT``): the baseline.

    Args:
        image: [H, W, 3] uint8 RGB. boxes: [N, 4] float xyxy pixels.
        iterations: GrabCut iterations per box (5).
    Returns:
        [N, H, W] bool: definite or probable foreground inside the box; all False for a box
        GrabCut cannot take (narrower or lower than 2 pixels).
    """
    h, w = image.shape[:2]
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    out = np.zeros((len(boxes), h, w), dtype=bool)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        rect = _pixel_rect(x0, y0, x1, y1, h, w)
        if rect[2] < 2 or rect[3] < 2:
            continue
        mask = np.zeros((h, w), np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(bgr, mask, rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
        out[i] = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return out


def _pixel_rect(x0, y0, x1, y1, h, w) -> Tuple[int, int, int, int]:
    """(x, y, width, height) of the pixels a float box touches, clipped to the image."""
    px0, py0 = int(np.clip(np.floor(x0), 0, w)), int(np.clip(np.floor(y0), 0, h))
    px1, py1 = int(np.clip(np.ceil(x1), px0, w)), int(np.clip(np.ceil(y1), py0, h))
    return px0, py0, px1 - px0, py1 - py0


def match_predictions(
    instances: Instances, boxes: np.ndarray, classes: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """For each box, the prediction of its class whose box overlaps it most (box IoU).

    Args:
        instances: predictions of the image (pred_boxes, pred_classes, pred_masks), CPU.
        boxes: [N, 4] float xyxy pixels. classes: [N] contiguous class ids of the boxes.
    Returns:
        index [N] int (-1 where no prediction of the class overlaps the box) and iou [N] float.
    """
    n = len(boxes)
    if n == 0 or len(instances) == 0:
        return np.full(n, -1), np.zeros(n)
    iou = pairwise_iou(Boxes(torch.as_tensor(boxes, dtype=torch.float32)), instances.pred_boxes)
    same = torch.as_tensor(classes)[:, None] == instances.pred_classes[None, :]
    iou = torch.where(same, iou, torch.zeros_like(iou))  # [N, P]
    best_iou, best = iou.max(1)
    best[best_iou <= 0] = -1
    return best.numpy(), best_iou.numpy()
