"""Oriented boxes as 4-point polygons: from masks, polygon IoU and rotated NMS (OpenCV).

detectron2's rotated ops (``box_iou_rotated``, ``nms_rotated``) are compiled ops that this
install lacks; these work on quadrilaterals, as DOTA's polygons are, on the CPU. A polygon is
a float array (4, 2) of (x, y) corners in pixel coordinates (pixel ``i`` covers [i, i + 1)).
"""
from typing import List, Optional, Sequence

import cv2
import numpy as np

__all__ = ["mask_to_rotated_box", "polygon_area", "polygon_iou", "rotated_nms"]


def mask_to_rotated_box(mask: np.ndarray) -> Optional[np.ndarray]:
    """Minimum-area rectangle of the largest 8-connected component of a binary mask.

    Args:
        mask: (H, W) bool or 0/1.

    Returns:
        (4, 2) float64 corners (cv2.boxPoints order) of the smallest rectangle holding the
        corners of the component's boundary pixels: an axis-aligned block of pixels x 10..39
        spans x 10.0..40.0. None for an empty mask.
    """
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    contours, _ = cv2.findContours((labels == largest).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    points = np.concatenate(contours).reshape(-1, 1, 2).astype(np.float32)
    corners = (points + np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)).reshape(-1, 2)
    return cv2.boxPoints(cv2.minAreaRect(corners)).astype(np.float64)


def polygon_area(polygon: np.ndarray) -> float:
    """Area of a simple polygon (N, 2) (shoelace formula, any orientation)."""
    return float(abs(cv2.contourArea(np.asarray(polygon, np.float32).reshape(-1, 1, 2))))


def _convex(polygon: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.asarray(polygon, np.float32).reshape(-1, 1, 2))


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two quadrilaterals (4, 2).

    Both are taken as their convex hulls (rectangles and DOTA's convex quadrilaterals are
    unchanged; a rare non-convex annotation is compared by its hull). Degenerate (zero-area)
    polygons have IoU 0.
    """
    ha, hb = _convex(a), _convex(b)
    area_a, area_b = float(cv2.contourArea(ha)), float(cv2.contourArea(hb))
    if area_a <= 0 or area_b <= 0:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(ha, hb)
    inter = max(float(inter), 0.0)
    return inter / (area_a + area_b - inter)


def rotated_nms(polygons: Sequence[np.ndarray], scores: Sequence[float],
                iou_threshold: float) -> List[int]:
    """Greedy NMS of oriented boxes: the highest-scored polygon is kept and every other whose
    :func:`polygon_iou` with it exceeds ``iou_threshold`` is removed, until none is left
    (the DOTA devkit's ``py_cpu_nms_poly``).

    Args:
        polygons: N arrays (4, 2).
        scores: N scores.
        iou_threshold: polygons with IoU strictly above it are suppressed.

    Returns:
        Indices of the kept polygons, by decreasing score (ties: input order).
    """
    if len(polygons) != len(scores):
        raise ValueError(f"rotated_nms: {len(polygons)} polygons but {len(scores)} scores")
    polygons = [np.asarray(p, np.float64).reshape(4, 2) for p in polygons]
    order = list(np.argsort(-np.asarray(scores, np.float64), kind="stable"))
    # Axis-aligned extents: pairs whose extents do not overlap are skipped without IoU.
    lo = np.array([p.min(0) for p in polygons]).reshape(-1, 2)
    hi = np.array([p.max(0) for p in polygons]).reshape(-1, 2)
    keep = []
    while order:
        i = int(order.pop(0))
        keep.append(i)
        remaining = []
        for j in order:
            apart = (lo[j] >= hi[i]).any() or (lo[i] >= hi[j]).any()
            if apart or polygon_iou(polygons[i], polygons[j]) <= iou_threshold:
                remaining.append(j)
        order = remaining
    return keep
