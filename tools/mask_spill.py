"""How far a run's masks spread beyond their objects' boxes, from its saved predictions.

    python -m tools.mask_spill --json VAL.json \
        --results RUN/inference/SET/coco_instances_results.json [--score 0.3] [--grow 8]

For every ground-truth instance, the prediction of its image scoring at least ``--score`` whose
mask overlaps it best (mask IoU, any class), and the fraction of that mask's area farther than
``--grow`` pixels from the instance's box (``spill``). Unlike the polarity diagnostic, which
matches by box and so never matches a mask spread over its neighbours, this sees such masks.
The last printed line is ``instances <N> mean_best_iou <IoU> mean_spill <S> spill_over_0.2 <F>``.
"""
import argparse
import json
from pathlib import Path
from typing import Dict

import numpy as np
from pycocotools import mask as mask_util


def _decode(segmentation, height: int, width: int) -> np.ndarray:
    """A COCO segmentation (polygons, RLE or uncompressed RLE) → [H, W] bool."""
    if isinstance(segmentation, list):
        rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_util.decode(rle).astype(bool)


def mask_spill(gt: dict, results: list, score: float = 0.3, grow: int = 8) -> Dict[str, float]:
    """Best-overlap IoU and spill beyond the grown box per ground-truth instance, averaged.

    Args:
        gt: COCO instances dict with masks.
        results: COCO results with RLE "segmentation".
        score: predictions below it are ignored.
        grow: pixels added around each ground-truth box before counting the spill.
    Returns:
        {"instances", "mean_best_iou", "mean_spill" (over instances with a prediction),
        "spill_over_0.2" (fraction of those whose spill exceeds 0.2)}.
    """
    images = {info["id"]: info for info in gt["images"]}
    predictions = {}
    for p in results:
        if p["score"] >= score:
            predictions.setdefault(p["image_id"], []).append(mask_util.decode(p["segmentation"]))
    ious, spills = [], []
    for ann in gt["annotations"]:
        if ann.get("iscrowd", 0):
            continue
        info = images[ann["image_id"]]
        h, w = info["height"], info["width"]
        obj = _decode(ann["segmentation"], h, w)
        x, y, bw, bh = ann["bbox"]
        box = np.zeros((h, w), bool)
        box[max(int(y) - grow, 0) : int(np.ceil(y + bh)) + grow,
            max(int(x) - grow, 0) : int(np.ceil(x + bw)) + grow] = True
        best, best_iou = None, 0.0
        for mask in predictions.get(ann["image_id"], ()):
            mask = mask.astype(bool)
            iou = (mask & obj).sum() / max((mask | obj).sum(), 1)
            if iou > best_iou:
                best, best_iou = mask, float(iou)
        ious.append(best_iou)
        if best is not None:
            spills.append((best & ~box).sum() / max(best.sum(), 1))
    spills = np.asarray(spills, dtype=float)
    return {
        "instances": len(ious),
        "mean_best_iou": float(np.mean(ious)) if ious else float("nan"),
        "mean_spill": float(spills.mean()) if len(spills) else float("nan"),
        "spill_over_0.2": float((spills > 0.2).mean()) if len(spills) else float("nan"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", required=True, help="COCO instances json with masks")
    parser.add_argument("--results", required=True, help="coco_instances_results.json of a run")
    parser.add_argument("--score", type=float, default=0.3)
    parser.add_argument("--grow", type=int, default=8)
    args = parser.parse_args(argv)
    res = mask_spill(json.loads(Path(args.json).read_text()),
                     json.loads(Path(args.results).read_text()), args.score, args.grow)
    print(f"instances {res['instances']} mean_best_iou {res['mean_best_iou']:.3f} mean_spill "
          f"{res['mean_spill']:.3f} spill_over_0.2 {res['spill_over_0.2']:.3f}")
    return res


if __name__ == "__main__":
    main()
