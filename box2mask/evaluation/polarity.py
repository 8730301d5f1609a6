"""Polarity of predicted masks: how much of each lies on its object, how much on the box's
background. An inverted model (the mask is the background around the object inside its box)
scores ``inside_object`` near 0 and ``in_box_background`` near 1; a good one near 1 and 0.

Matching: predictions are taken in descending score; each goes to the not yet matched
ground-truth instance of its image and class whose box has the highest IoU with the tight box
of the predicted mask, if that IoU is at least ``iou_threshold`` (0.5), one to one as in COCO.
Boxes, not masks, are compared because an inverted mask overlaps its own object hardly at all
(mask IoU near 0) while its tight box still fits the object's box. Per matched prediction with
mask P, ground-truth mask G and ground-truth box B (pixels whose centre is inside it):

    inside_object     = |P & G| / |P|
    in_box_background = |P & B & ~G| / |P|   (B & ~G: the box's background, other objects too)
    outside_box       = 1 - inside_object - in_box_background

A run's polarity is the mean over its matched predictions.

CLI, on a run's COCO results (the last printed line is the summary)::

    python -m box2mask.evaluation.polarity --json DIR/val.json \
        --results OUTPUT/inference/<dataset>/coco_instances_results.json
"""
import argparse
import json
import math
from pathlib import Path
from typing import Dict, List, Sequence, Union

import numpy as np
from pycocotools import mask as mask_utils

from .box_baselines import box_fill_masks

__all__ = ["evaluate_polarity", "match_by_box", "polarity_of_matches"]

_FRACTIONS = ("inside_object", "in_box_background", "outside_box")


def _pairwise_box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU [N, M] of boxes a [N, 4] and b [M, 4], (x0, y0, x1, y1) pixels."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _tight_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight boxes [M, 4] (x0, y0, x1, y1), exclusive ends, of non-empty masks [M, H, W]."""
    boxes = np.zeros((len(masks), 4))
    for i, mask in enumerate(masks):
        ys = np.flatnonzero(mask.any(axis=1))
        xs = np.flatnonzero(mask.any(axis=0))
        boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def match_by_box(
    gt_boxes: np.ndarray,
    gt_classes: Sequence[int],
    pred_masks: np.ndarray,
    pred_classes: Sequence[int],
    pred_scores: Sequence[float],
    iou_threshold: float = 0.5,
) -> List[tuple]:
    """One-to-one matching of predictions to ground truth by box IoU, highest score first.

    Args:
        gt_boxes: [N, 4] float (x0, y0, x1, y1) pixels of the ground-truth instances.
        gt_classes: [N] class ids.
        pred_masks: [M, H, W] bool predicted masks; empty masks are never matched.
        pred_classes: [M] class ids.
        pred_scores: [M] confidences.
        iou_threshold: smallest IoU of the ground-truth box and the mask's tight box.

    Returns:
        (prediction index, ground-truth index, box IoU) per match, in descending score.
    """
    pred_masks = np.asarray(pred_masks, dtype=bool)
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    gt_classes, pred_classes = np.asarray(gt_classes), np.asarray(pred_classes)
    if not (len(pred_masks) == len(pred_classes) == len(pred_scores)):
        raise ValueError(
            f"{len(pred_masks)} masks, {len(pred_classes)} classes and {len(pred_scores)} scores"
        )
    if len(gt_boxes) != len(gt_classes):
        raise ValueError(f"{len(gt_boxes)} ground-truth boxes but {len(gt_classes)} classes")
    if not len(pred_masks) or not len(gt_boxes):
        return []
    non_empty = np.flatnonzero(pred_masks.reshape(len(pred_masks), -1).any(axis=1))
    ious = np.zeros((len(pred_masks), len(gt_boxes)))  # 0 for empty masks: never matched
    ious[non_empty] = _pairwise_box_iou(_tight_boxes(pred_masks[non_empty]), gt_boxes)
    ious[pred_classes[:, None] != gt_classes[None, :]] = 0.0
    taken = np.zeros(len(gt_boxes), bool)
    matches = []
    for i in sorted(non_empty, key=lambda k: -float(pred_scores[k])):
        candidates = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(candidates))
        if candidates[j] >= iou_threshold:
            taken[j] = True
            matches.append((int(i), j, float(ious[i, j])))
    return matches


def polarity_of_matches(
    gt_masks: np.ndarray, gt_boxes: np.ndarray, pred_masks: np.ndarray, matches: Sequence[tuple]
) -> List[Dict[str, float]]:
    """The area fractions of each matched prediction (see the module docstring).

    Args:
        gt_masks: [N, H, W] bool ground-truth masks.
        gt_boxes: [N, 4] float (x0, y0, x1, y1) pixels.
        pred_masks: [M, H, W] bool.
        matches: (prediction index, ground-truth index, ...) tuples, e.g. from ``match_by_box``.

    Returns:
        Per match: {"inside_object", "in_box_background", "outside_box"} in [0, 1].
    """
    gt_masks, pred_masks = np.asarray(gt_masks, bool), np.asarray(pred_masks, bool)
    if gt_masks.shape[1:] != pred_masks.shape[1:]:
        raise ValueError(f"masks of size {gt_masks.shape[1:]} and {pred_masks.shape[1:]}")
    size = np.broadcast_to(np.zeros((), np.uint8), gt_masks.shape[1:] + (3,))
    out = []
    for i, j, *_ in matches:
        pred, obj = pred_masks[i], gt_masks[j]
        box = box_fill_masks(size, np.asarray(gt_boxes, np.float64)[j : j + 1])[0]
        area = float(pred.sum())
        inside = (pred & obj).sum() / area
        background = (pred & box & ~obj).sum() / area
        out.append(
            {
                "inside_object": float(inside),
                "in_box_background": float(background),
                "outside_box": max(0.0, float(1.0 - inside - background)),  # no -0.0 from rounding
            }
        )
    return out


def evaluate_polarity(
    json_file,
    results: Union[str, Path, List[dict]],
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
) -> Dict[str, float]:
    """Mean polarity of a run's predictions on a COCO set with masks.

    Args:
        json_file: COCO instances json whose annotations have ``segmentation``.
        results: COCO results (a list, or the path of ``coco_instances_results.json``): dicts
            with "image_id", "category_id", "score" and "segmentation" as RLE.
        iou_threshold: smallest box IoU of a match (see ``match_by_box``).
        score_threshold: predictions scoring below it are ignored.

    Returns:
        {"inside_object", "in_box_background", "outside_box"}: means over matched predictions
        (NaN when none matched); "matched", "predictions" (those scored >= score_threshold)
        and "ground_truth" (non-crowd instances): counts.
    """
    gt = json.loads(Path(json_file).read_text())
    if not isinstance(results, list):
        results = json.loads(Path(results).read_text())
    images = {info["id"]: info for info in gt["images"]}
    gt_by_image, pred_by_image = {}, {}
    for ann in gt["annotations"]:
        if ann.get("iscrowd", 0):
            continue
        if "segmentation" not in ann:
            raise ValueError(
                f"{json_file}: annotation {ann['id']} has no 'segmentation'; polarity needs a "
                "json with masks (e.g. the val split, not the box-only train split)"
            )
        gt_by_image.setdefault(ann["image_id"], []).append(ann)
    for res in results:
        if res["image_id"] not in images:
            raise ValueError(f"result for image {res['image_id']}, which {json_file} lacks")
        if "segmentation" not in res:
            raise ValueError("polarity needs mask results (a 'segmentation' per result)")
        if res["score"] >= score_threshold:
            pred_by_image.setdefault(res["image_id"], []).append(res)

    fractions = []
    for image_id, preds in pred_by_image.items():
        anns = gt_by_image.get(image_id, [])
        if not anns:
            continue
        h, w = images[image_id]["height"], images[image_id]["width"]
        gt_masks = np.stack([_decode(a["segmentation"], h, w) for a in anns])
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64)
        gt_boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        pred_masks = np.stack([_decode(p["segmentation"], h, w) for p in preds])
        matches = match_by_box(
            gt_boxes,
            [a["category_id"] for a in anns],
            pred_masks,
            [p["category_id"] for p in preds],
            [p["score"] for p in preds],
            iou_threshold,
        )
        fractions += polarity_of_matches(gt_masks, gt_boxes, pred_masks, matches)
    out = {
        k: float(np.mean([f[k] for f in fractions])) if fractions else math.nan for k in _FRACTIONS
    }
    out["matched"] = len(fractions)
    out["predictions"] = sum(len(p) for p in pred_by_image.values())
    out["ground_truth"] = sum(len(a) for a in gt_by_image.values())
    return out


def _decode(segmentation, height: int, width: int) -> np.ndarray:
    """[H, W] bool mask of a COCO segmentation (RLE with str or bytes counts, or polygons)."""
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    mask = mask_utils.decode(rle).astype(bool)
    if mask.shape != (height, width):
        raise ValueError(f"a mask of size {mask.shape} on a {height}x{width} image")
    return mask


def main(argv=None):
    parser = argparse.ArgumentParser(description="Polarity of a run's predicted masks.")
    parser.add_argument("--json", required=True, help="COCO instances json with masks")
    parser.add_argument("--results", required=True, help="coco_instances_results.json of a run")
    parser.add_argument("--iou", type=float, default=0.5, help="smallest box IoU of a match")
    parser.add_argument("--score", type=float, default=0.0, help="ignore predictions below it")
    args = parser.parse_args(argv)
    res = evaluate_polarity(args.json, args.results, args.iou, args.score)
    print(
        f"polarity inside_object {res['inside_object']:.3f} in_box_background "
        f"{res['in_box_background']:.3f} outside_box {res['outside_box']:.3f} matched "
        f"{res['matched']} of {res['predictions']} predictions, {res['ground_truth']} objects"
    )
    return res


if __name__ == "__main__":
    main()
