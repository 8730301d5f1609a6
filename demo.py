#!/usr/bin/env python
"""Run a trained Box2Mask model on images: PNG overlays and COCO-style JSON.

    python demo.py --config-file CFG --input img.jpg|folder --output out/ MODEL.WEIGHTS w.pth
"""
import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor
from detectron2.evaluation.coco_evaluation import instances_to_coco_json

import box2mask  # noqa: F401  (registration)
from box2mask import add_box2mask_config
from box2mask.data import read_image
from box2mask.visualization import draw_predictions

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


def list_images(path: str):
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return files
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return [p]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--input", required=True, help="an image or a folder of images")
    parser.add_argument("--output", required=True, help="folder for overlays and results.json")
    parser.add_argument("--confidence", type=float, default=0.3, help="score shown in overlays")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args()

    cfg = get_cfg()
    add_box2mask_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    if not torch.cuda.is_available():
        cfg.MODEL.DEVICE = "cpu"
    cfg.freeze()
    predictor = DefaultPredictor(cfg)
    metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else "__unused")

    os.makedirs(args.output, exist_ok=True)
    results = []
    for image_id, path in enumerate(list_images(args.input)):
        image_bgr = read_image(str(path), format="BGR")
        instances = predictor(image_bgr)["instances"].to("cpu")
        for r in instances_to_coco_json(instances, image_id):
            r["file_name"] = path.name
            results.append(r)
        overlay = draw_predictions(image_bgr[:, :, ::-1], instances, metadata, args.confidence)
        cv2.imwrite(os.path.join(args.output, path.stem + "_pred.png"), overlay[:, :, ::-1])
        print(f"{path.name}: {len(instances)} instances")
    with open(os.path.join(args.output, "results.json"), "w") as f:
        json.dump(results, f)
    print(f"wrote {len(results)} instances to {os.path.join(args.output, 'results.json')}")


if __name__ == "__main__":
    main()
