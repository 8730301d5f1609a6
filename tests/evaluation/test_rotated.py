"""Polygon IoU, rotated NMS and oriented boxes of masks on hand-computed cases."""
import math

import cv2
import numpy as np
import pytest

from box2mask.evaluation.rotated import (
    mask_to_rotated_box,
    polygon_area,
    polygon_iou,
    rotated_nms,
)


def square(cx, cy, side, degrees=0.0):
    return cv2.boxPoints(((cx, cy), (side, side), degrees)).astype(np.float64)


# A square of side 2 and the same square turned by 45°: their intersection is the octagon of
# area 4 − 4 · (2 − √2)² / 2 = 8√2 − 8, so IoU = (8√2 − 8) / (8 − (8√2 − 8)) = 1 / √2.
TURNED_IOU = 1 / math.sqrt(2)


def test_polygon_iou_hand_computed():
    a = square(0, 0, 2)
    assert polygon_iou(a, a) == pytest.approx(1.0)
    assert polygon_iou(a, square(0, 0, 2, 45)) == pytest.approx(TURNED_IOU, abs=1e-5)
    assert polygon_iou(a, square(5, 0, 2)) == 0.0  # apart
    assert polygon_iou(a, square(2, 0, 2)) == 0.0  # touching along an edge
    assert polygon_iou(a, square(1, 0, 2)) == pytest.approx(2 / 6)  # half-overlapping
    assert polygon_iou(a, square(0, 0, 1)) == pytest.approx(1 / 4)  # nested
    # corner order does not matter; a degenerate polygon overlaps nothing
    assert polygon_iou(a[::-1], np.roll(a, 1, axis=0)) == pytest.approx(1.0)
    assert polygon_iou(a, np.zeros((4, 2))) == 0.0
    assert polygon_area(square(0, 0, 2, 30)) == pytest.approx(4.0, abs=1e-5)


def test_rotated_nms_hand_computed():
    boxes = [square(0, 0, 2), square(0, 0, 2, 45), square(10, 10, 2), square(0, 0, 2)]
    scores = [0.9, 0.8, 0.7, 0.95]
    # the duplicate (IoU 1) of box 0 scores highest: box 0 goes, and at 0.5 the turned box too
    assert rotated_nms(boxes, scores, 0.5) == [3, 2]
    # the turned box (IoU 1/√2) survives a threshold above its IoU
    assert rotated_nms(boxes, scores, 0.75) == [3, 1, 2]
    # the DOTA merge threshold: anything overlapping more than 0.1 goes
    assert rotated_nms(boxes, scores, 0.1) == [3, 2]
    # IoU equal to the threshold is kept (suppressed only above it)
    assert rotated_nms([square(0, 0, 2), square(1, 0, 2)], [0.5, 0.4], 1 / 3) == [0, 1]
    assert rotated_nms([], [], 0.5) == []
    with pytest.raises(ValueError, match="2 polygons but 1 scores"):
        rotated_nms(boxes[:2], [0.5], 0.5)


def test_mask_to_rotated_box():
    mask = np.zeros((60, 80), bool)
    mask[5:15, 10:40] = True  # 30 × 10 pixels
    mask[50:52, 70:72] = True  # a smaller component: ignored
    box = mask_to_rotated_box(mask)
    assert box.min(0) == pytest.approx([10, 5]) and box.max(0) == pytest.approx([40, 15])
    assert polygon_area(box) == pytest.approx(300)

    # a square turned by 45°, rasterised: its box is turned by 45°, holds every pixel and
    # exceeds the pixel count by the boundary pixels' corners only
    turned = np.zeros((100, 100), np.uint8)
    cv2.fillPoly(turned, [np.round(square(50, 50, 40, 45) - 0.5).astype(np.int32)], 1)
    box = mask_to_rotated_box(turned)
    _, _, angle = cv2.minAreaRect(box.astype(np.float32))
    assert abs(abs(angle) - 45) < 0.5
    assert turned.sum() < polygon_area(box) < 1.1 * turned.sum()
    contour = box.astype(np.float32).reshape(-1, 1, 2)
    ys, xs = np.nonzero(turned)
    assert all(cv2.pointPolygonTest(contour, (x + 0.5, y + 0.5), False) >= 0
               for x, y in zip(xs.tolist(), ys.tolist()))
    assert mask_to_rotated_box(np.zeros((5, 5), bool)) is None
