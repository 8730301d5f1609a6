"""Duplicates and per-instance mask quality of a trained model on an evaluation set.

    python -m tools.prediction_overlap RUN_DIR [--dataset synthetic_val] [--score 0.3]
                                            [--iou 0.5]

RUN_DIR is a ``train_net.py`` output directory (its ``config.yaml`` and ``model_final.pth``).
Over the predictions scoring above ``--score``, counts those whose mask overlaps another
prediction's mask of the same image by IoU above ``--iou`` (duplicates), and for every
ground-truth instance the IoU of the best-overlapping prediction (any score). The last printed
line is ``predictions <N> duplicates <D> mean_best_iou <IoU>``.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_util


from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultPredictor

from box2mask import add_box2mask_config
from box2mask.data import read_image


def to_rles(masks: np.ndarray) -> list:
    """masks [N, H, W] bool → N COCO run-length encodings."""
    return mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))


def pairwise_iou(a: list, b: list) -> np.ndarray:
    """IoU [len(a), len(b)] between two lists of RLEs (empty lists give an empty matrix)."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    return np.asarray(mask_util.iou(a, b, [0] * len(b)))


def count_duplicates(rles: list, iou: float) -> int:
    """How many of the masks overlap another one of the list by IoU > ``iou``."""
    overlap = pairwise_iou(rles, rles)
    np.fill_diagonal(overlap, 0)
    return int((overlap > iou).any(1).sum())


def gt_rles(record: dict) -> list:
    """The ground-truth masks of a detectron2 dataset record (polygons, uncompressed or
    compressed RLE) as compressed RLEs."""
    h, w = record["height"], record["width"]
    rles = []
    for ann in record["annotations"]:
        seg = ann["segmentation"]
        if isinstance(seg, list) or isinstance(seg.get("counts"), list):
            seg = mask_util.frPyObjects(seg, h, w)
        rles.append(mask_util.merge(seg) if isinstance(seg, list) else seg)
    return rles


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--dataset", default="synthetic_val")
    parser.add_argument("--score", type=float, default=0.3)
    parser.add_argument("--iou", type=float, default=0.5)
    args = parser.parse_args(argv)
    for name in ("config.yaml", "model_final.pth"):
        if not (args.run_dir / name).is_file():
            sys.exit(f"prediction_overlap: {args.run_dir / name} not found (a train_net.py run?)")
    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(str(args.run_dir / "config.yaml"))
    cfg.MODEL.WEIGHTS = str(args.run_dir / "model_final.pth")
    predictor = DefaultPredictor(cfg)
    n_pred = n_dup = 0
    best = []
    for record in DatasetCatalog.get(args.dataset):
        image = read_image(record["file_name"], "BGR")  # DefaultPredictor takes BGR
        inst = predictor(image)["instances"].to("cpu")
        rles = to_rles(inst.pred_masks.numpy()) if len(inst) else []
        confident = [r for r, s in zip(rles, inst.scores.tolist()) if s > args.score]
        n_pred += len(confident)
        n_dup += count_duplicates(confident, args.iou)
        gts = gt_rles(record)
        if gts:
            overlap = pairwise_iou(gts, rles)
            best.extend(overlap.max(1) if rles else np.zeros(len(gts)))
    mean_best = float(np.mean(best)) if best else float("nan")
    print(f"predictions {n_pred} duplicates {n_dup} mean_best_iou {mean_best:.3f}")


if __name__ == "__main__":
    main()
