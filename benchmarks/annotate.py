#!/usr/bin/env python
"""Boxes to masks, every method of ``python -m box2mask.annotate`` side by side.

On ``synthetic_test`` (ground-truth boxes; the masks hidden from the methods: they get a json
without ``segmentation``) and on a grayscale copy of it: each method's mean mask IoU with the
ground truth, COCO mask AP (every box one prediction, score 1.0, its class) and milliseconds
per instance (the annotate run's wall time over the boxes, one process). ``model`` and ``auto``
use a trained demo Box2Mask-C (``--weights``, or trained here with the demo config).

    python benchmarks/annotate.py [--weights W.pth] [--limit N] [--output DIR]

Last line: ``annotate_vs_grabcut <best project method's mIoU - GrabCut's> speed_ratio
<GrabCut ms / evolution ms>`` (the worse of the two variants for the first number, colour for
the second).
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from box2mask.annotate import annotate
from box2mask.data.builtin import SYNTHETIC_TEST, builtin_root
from box2mask.data.synthetic import generate_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs/demo/box2mask_c_effnet_lite0.yaml"
PROJECT_METHODS = ("evolution", "model", "auto")


def prepare(out: Path, limit: int):
    """(name, json with masks, boxes-only json, image folder) for colour and grayscale."""
    paths = generate_synthetic_dataset(builtin_root() / "synthetic_test", **SYNTHETIC_TEST)
    coco = json.loads(Path(paths["val_json"]).read_text())
    if limit:
        coco["images"] = coco["images"][:limit]
        keep = {img["id"] for img in coco["images"]}
        coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in keep]
    gray_dir = out / "gray_images"
    gray_dir.mkdir(parents=True, exist_ok=True)
    for img in coco["images"]:
        target = gray_dir / img["file_name"]
        if not target.exists():
            gray = cv2.imread(str(Path(paths["val_images"]) / img["file_name"]), cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(target), gray)
    gt = out / "gt.json"
    gt.write_text(json.dumps(coco))
    boxes = dict(coco, annotations=[
        {k: v for k, v in a.items() if k != "segmentation"} for a in coco["annotations"]])
    boxes_json = out / "boxes.json"
    boxes_json.write_text(json.dumps(boxes))
    return [("colour", gt, boxes_json, Path(paths["val_images"])),
            ("gray", gt, boxes_json, gray_dir)]


def train_model(out: Path, iters: int) -> Path:
    """Train the demo Box2Mask-C (train_net.py) unless its final checkpoint exists."""
    weights = out / "model" / "model_final.pth"
    if weights.is_file():
        return weights
    cmd = [sys.executable, str(ROOT / "train_net.py"), "--config-file", str(CONFIG),
           "OUTPUT_DIR", str(weights.parent), "TEST.EVAL_PERIOD", "0"]
    if iters:
        cmd += ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({max(1, iters - 1)},)",
                "SOLVER.WARMUP_ITERS", str(min(50, iters)), "SOLVER.CHECKPOINT_PERIOD", str(iters)]
    print("training:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, env=dict(os.environ, DETECTRON2_DATASETS=str(builtin_root().resolve())))
    return weights


def score(gt_json: Path, result_json: Path) -> dict:
    """mIoU (each annotation's mask against its ground truth) and COCO mask AP, percent."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_json))
        predicted = json.loads(result_json.read_text())["annotations"]
        ious = []
        for a in predicted:
            mask = mask_utils.decode(a["segmentation"]).astype(bool)
            target = gt.annToMask(gt.anns[a["id"]]).astype(bool)
            union = (mask | target).sum()
            ious.append((mask & target).sum() / union if union else 1.0)
        results = [{"image_id": a["image_id"], "category_id": a["category_id"],
                    "segmentation": a["segmentation"], "score": 1.0} for a in predicted]
        coco_eval = COCOeval(gt, gt.loadRes(results), "segm")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return {"mIoU": 100 * float(np.mean(ious)), "AP": 100 * max(coco_eval.stats[0], 0.0)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="trained demo Box2Mask-C checkpoint")
    parser.add_argument("--config-file", default=str(CONFIG))
    parser.add_argument("--iters", type=int, default=0, help="training iterations if no "
                        "--weights (0: the demo config's schedule)")
    parser.add_argument("--limit", type=int, default=0, help="first N test images (0: all)")
    parser.add_argument("--output", default="output/benchmarks/annotate")
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    weights = Path(args.weights) if args.weights else train_model(out, args.iters)
    rows = {}
    for variant, gt, boxes_json, images in prepare(out, args.limit):
        for method in ("box", "grabcut", "evolution", "model", "auto"):
            result = out / f"{variant}_{method}.json"
            result.unlink(missing_ok=True)
            start = time.perf_counter()
            counts = annotate(boxes_json, images, result, method, args.config_file, weights)
            ms = 1000 * (time.perf_counter() - start) / max(sum(counts.values()), 1)
            rows[variant, method] = dict(score(gt, result), ms=ms)
            print(f"{variant:7s} {method:10s} mIoU {rows[variant, method]['mIoU']:5.1f} "
                  f"AP {rows[variant, method]['AP']:5.1f} ms/instance {ms:7.1f}", flush=True)
    print("\n| method | mIoU colour | AP colour | ms colour | mIoU gray | AP gray | ms gray |")
    print("|---|---|---|---|---|---|---|")
    for method in ("box", "grabcut", "evolution", "model", "auto"):
        c, g = rows["colour", method], rows["gray", method]
        print(f"| {method} | {c['mIoU']:.1f} | {c['AP']:.1f} | {c['ms']:.1f} | {g['mIoU']:.1f} | "
              f"{g['AP']:.1f} | {g['ms']:.1f} |")
    margin = min(max(rows[v, m]["mIoU"] for m in PROJECT_METHODS) - rows[v, "grabcut"]["mIoU"]
                 for v in ("colour", "gray"))
    ratio = rows["colour", "grabcut"]["ms"] / max(rows["colour", "evolution"]["ms"], 1e-9)
    print(f"annotate_vs_grabcut {margin:.1f} speed_ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
