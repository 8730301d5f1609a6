"""One image of a registered data set with the saved predictions of several runs, side by side.

    python -m tools.compare_runs --dataset microscopy_val --image 0 --out compare.png \
        RUN_DIR [RUN_DIR ...] [--min-score 0.3]

Each RUN_DIR is a ``train_net.py`` output directory evaluated on the data set (its
``inference/<dataset>/coco_instances_results.json``). The first panel is the image, then one
panel per run with its masks above ``--min-score``.
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from pycocotools import mask as mask_util

import box2mask  # noqa: F401  (registers the built-in data sets)
from box2mask.data import read_image
from box2mask.visualization import draw_predictions, side_by_side


def run_instances(results_file: Path, image_id, image_size) -> Instances:
    """The predictions of one image from a COCO results json, as detectron2 ``Instances``."""
    preds = [r for r in json.loads(results_file.read_text()) if r["image_id"] == image_id]
    inst = Instances(image_size)
    masks = [mask_util.decode(r["segmentation"]).astype(bool) for r in preds]
    inst.pred_masks = torch.as_tensor(np.stack(masks) if masks else np.zeros((0, *image_size)))
    boxes = [[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (r["bbox"] for r in preds)]
    inst.pred_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.scores = torch.as_tensor([r["score"] for r in preds], dtype=torch.float32)
    inst.pred_classes = torch.as_tensor([r["category_id"] for r in preds], dtype=torch.long)
    return inst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="train_net.py output directories")
    parser.add_argument("--dataset", required=True, help="a registered data set with masks")
    parser.add_argument("--image", type=int, default=0, help="index of the image in the set")
    parser.add_argument("--min-score", type=float, default=0.3)
    parser.add_argument("--out", required=True, type=Path, help="PNG to write (not replaced)")
    args = parser.parse_args(argv)
    if args.out.exists():
        sys.exit(f"compare_runs: {args.out} exists; choose another --out")
    record = DatasetCatalog.get(args.dataset)[args.image]
    metadata = MetadataCatalog.get(args.dataset)
    image = read_image(record["file_name"], "RGB")
    panel = image
    for run in args.runs:
        results = run / "inference" / args.dataset / "coco_instances_results.json"
        if not results.is_file():
            sys.exit(f"compare_runs: {results} not found (was the run evaluated on {args.dataset}?)")
        # the results json holds the data set's category ids; Instances want contiguous ones
        instances = run_instances(results, record["image_id"], image.shape[:2])
        id_map = metadata.get("thing_dataset_id_to_contiguous_id", {})
        instances.pred_classes = torch.as_tensor(
            [id_map.get(int(c), int(c)) for c in instances.pred_classes], dtype=torch.long
        )
        panel = side_by_side(panel, draw_predictions(image, instances, metadata, args.min_score))
    cv2.imwrite(str(args.out), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
