"""COCO 2017 → the box-supervised training json and an RLE validation json.

Raw inputs, as the official archives unpack: ``COCO_ROOT/annotations/instances_{train,val}2017
.json`` and ``COCO_ROOT/{train2017,val2017}/``; with ``test_dev``, also
``COCO_ROOT/annotations/image_info_test-dev2017.json`` and ``COCO_ROOT/test2017/``.

``train.json`` keeps boxes and classes of the non-crowd annotations (no ``segmentation``);
``val.json`` keeps every annotation, crowds included, with its mask as RLE; ``test-dev.json`` is
the image list alone (evaluating on it writes the results file of the evaluation server). The
official category ids are kept, so results map back to them.
"""
import json
import logging
import os
from pathlib import Path

import pycocotools.mask as mask_util
from tqdm import tqdm

from .common import require, splits_to_write, write_coco_json

__all__ = ["convert_coco", "segmentation_to_rle"]

logger = logging.getLogger(__name__)

# split → (annotation file under annotations/, image folder)
SPLITS = {
    "train": ("instances_train2017.json", "train2017"),
    "val": ("instances_val2017.json", "val2017"),
    "test-dev": ("image_info_test-dev2017.json", "test2017"),
}


def segmentation_to_rle(segmentation, height: int, width: int) -> dict:
    """A COCO ``segmentation`` (polygons, uncompressed or compressed RLE) as compressed RLE
    with a str ``counts``."""
    if isinstance(segmentation, list):  # polygons of one instance
        rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE (crowds)
        rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        rle = dict(segmentation)
    if isinstance(rle["counts"], bytes):
        rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _load(json_path: Path) -> dict:
    try:
        data = json.loads(require(json_path, "official COCO annotation file").read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path}: not valid JSON ({e})") from None
    for key in ("images", "categories"):
        if key not in data:
            raise ValueError(f"{json_path}: not a COCO json, missing '{key}'")
    return data


def convert_coco(coco_root, out, test_dev: bool = False) -> dict:
    """Write ``out/train.json`` and ``out/val.json`` (and ``out/test-dev.json``), with
    ``out/images/<split folder>`` a symlink to the raw image folder. A split whose json exists
    is skipped.

    Returns:
        {split: number of images} of the splits written.
    """
    root, out = Path(coco_root), Path(out)
    written = {}
    splits = ("train", "val", "test-dev") if test_dev else ("train", "val")
    for split in splits_to_write(out, splits):
        ann_file, folder = SPLITS[split]
        json_path = out / f"{split}.json"
        raw_json = root / "annotations" / ann_file
        data = _load(raw_json)
        image_dir = require(root / folder, f"images of {ann_file}")
        present = set(os.listdir(image_dir))
        for entry in data["images"]:
            if entry["file_name"] not in present:
                raise FileNotFoundError(
                    f"{raw_json}: image {entry['id']} '{entry['file_name']}' is not in {image_dir}"
                )
        sizes = {im["id"]: (im["height"], im["width"]) for im in data["images"]}
        images = [{**im, "file_name": f"{folder}/{im['file_name']}"} for im in data["images"]]
        annotations = None
        if split != "test-dev":
            if "annotations" not in data:
                raise ValueError(f"{raw_json}: not a COCO instances json, missing 'annotations'")
            annotations = []
            for ann in tqdm(data["annotations"], desc=f"COCO {split}"):
                keep = {k: ann[k] for k in ("image_id", "category_id", "bbox", "area", "iscrowd")}
                if split == "train":
                    if not ann["iscrowd"]:
                        annotations.append(keep)
                else:
                    h, w = sizes[ann["image_id"]]
                    annotations.append({**keep, "segmentation": segmentation_to_rle(
                        ann["segmentation"], h, w)})
        link = out / "images" / folder
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(image_dir.resolve(), link, target_is_directory=True)
        write_coco_json(json_path, images, annotations, data["categories"])
        written[split] = len(images)
    return written
