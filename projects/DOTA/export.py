#!/usr/bin/env python
"""Patch predictions (COCO results with RLE masks) → DOTA Task 1 submission files
``OUT/Task1_<class>.txt`` (oriented boxes from the masks, merged to full images).

    python projects/DOTA/export.py --predictions coco_instances_results.json --out DIR \
        [--patches $DETECTRON2_DATASETS/dota/val.json]
"""
import argparse
import json
import logging
import os

from box2mask.evaluation.dota import load_patches, merge_patch_results, write_task1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True,
                        help="coco_instances_results.json written by the DOTA evaluation")
    parser.add_argument("--out", required=True, help="folder of the Task1_<class>.txt files")
    parser.add_argument("--patches", default=os.path.join(
        os.getenv("DETECTRON2_DATASETS", "datasets"), "dota", "val.json"),
                        help="patch json the predictions refer to (default: "
                             "$DETECTRON2_DATASETS/dota/val.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not os.path.isfile(args.patches):
        raise FileNotFoundError(f"{args.patches}: missing (patch json of projects/DOTA/prepare.py)")
    patches, class_names = load_patches(args.patches)
    try:
        with open(args.predictions) as f:
            results = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{args.predictions}: not valid JSON ({e})") from None
    detections = merge_patch_results(results, patches, class_names)
    paths = write_task1(args.out, detections, [class_names[i] for i in sorted(class_names)])
    count = sum(len(d) for d in detections.values())
    logging.info(f"{args.out}: {len(paths)} Task1 files, {count} oriented detections")


if __name__ == "__main__":
    main()
