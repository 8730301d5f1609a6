"""How much of the ground truth's holes (a ring's interior) a model's saved predictions fill.

    python -m tools.hole_fill RUN_DIR/inference/DATASET/coco_instances_results.json
                                   [--dataset synthetic_test] [--score 0.3] [--category ring]

For every ground-truth instance with a hole (its filled-in mask minus the mask), takes the
prediction of the same image scoring above ``--score`` that overlaps it best by mask IoU and
measures the fraction of the hole it covers (0 when no prediction overlaps); ``--category``
keeps the ground truths of one class (occlusion also cuts holes in other shapes). The last printed
line is ``instances_with_holes <N> mean_hole_fill <F>``.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_util
from scipy import ndimage


from detectron2.data import DatasetCatalog, MetadataCatalog

import box2mask  # noqa: F401  (registers the built-in data sets)
from tools.prediction_overlap import gt_rles, pairwise_iou


def hole_of(mask: np.ndarray) -> np.ndarray:
    """[H, W] bool: the hole of a [H, W] bool mask (its filled-in version minus the mask)."""
    return ndimage.binary_fill_holes(mask) & ~mask


def dataset_classes(dataset: str, category, prog: str) -> list:
    """The data set's class names; exits naming them when ``category`` is not one of them."""
    classes = MetadataCatalog.get(dataset).thing_classes
    if category is not None and category not in classes:
        sys.exit(f"{prog}: no class {category!r} in {dataset} ({', '.join(classes)})")
    return classes


def ground_truths(record: dict, classes: list, category) -> list:
    """(compressed RLE, annotation) of the record's ground truths of class ``category`` (all
    when None)."""
    return [
        (rle, ann)
        for rle, ann in zip(gt_rles(record), record["annotations"])
        if category is None or classes[ann["category_id"]] == category
    ]


def hole_fill(gt: list, pred: list) -> list:
    """For each ground-truth RLE with a hole, the fraction of the hole's pixels covered by the
    best-overlapping (mask IoU) of the predicted RLEs; ground truths without a hole are left out."""
    overlap = pairwise_iou(gt, pred)
    fills = []
    for i, rle in enumerate(gt):
        mask = mask_util.decode(rle).astype(bool)
        hole = hole_of(mask)
        if not hole.any():
            continue
        if not pred or overlap[i].max() == 0:
            fills.append(0.0)
            continue
        best = mask_util.decode(pred[int(overlap[i].argmax())]).astype(bool)
        fills.append(float((best & hole).sum() / hole.sum()))
    return fills


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a COCOEvaluator coco_instances_results.json")
    parser.add_argument("--dataset", default="synthetic_test")
    parser.add_argument("--score", type=float, default=0.3)
    parser.add_argument("--category", help="a class name of the data set; default: all")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        sys.exit(f"hole_fill: {args.results} not found")
    records = DatasetCatalog.get(args.dataset)
    classes = dataset_classes(args.dataset, args.category, "hole_fill")
    by_image = {}
    for p in json.loads(args.results.read_text()):
        if p["score"] > args.score:
            by_image.setdefault(p["image_id"], []).append(p["segmentation"])
    fills = []
    for record in records:
        gt = [rle for rle, _ in ground_truths(record, classes, args.category)]
        fills.extend(hole_fill(gt, by_image.get(record["image_id"], [])))
    mean = float(np.mean(fills)) if fills else float("nan")
    print(f"instances_with_holes {len(fills)} mean_hole_fill {mean:.3f}")


if __name__ == "__main__":
    main()
