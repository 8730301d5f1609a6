"""iSAID (DOTA-v1.0 images, COCO-format polygons on full images) → 800×800 patch sets.

Raw inputs, as the iSAID devkit expects them: ``ISAID_ROOT/{train,val}/images/P*.png`` (the
DOTA images; the ``*_instance_*_RGB.png`` files beside them are not read) and
``ISAID_ROOT/{train,val}/Annotations/iSAID_{train,val}.json``.

Images larger than the patch in both sides are cut as the devkit's ``split.py`` does: windows
every ``patch - overlap`` pixels, the last one of a row or column moved back to end at the
image border, named ``<image>_<y0>_<y1>_<x0>_<x1>.png``; other images are kept whole. Masks
and boxes are clipped to each patch; an instance keeping fewer than ``min_pixels`` pixels in a
patch is dropped there (counted in the log). The official train and val jsons number their
categories differently: classes are matched by name to ``ISAID_CLASSES``.
"""
import json
import logging
import math
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pycocotools.mask as mask_util
from tqdm import tqdm

from .coco import segmentation_to_rle
from .common import (
    PatchWriter, categories, instance_annotation, link_image, require, splits_to_write,
    write_coco_json,
)

__all__ = ["ISAID_CLASSES", "convert_isaid", "patch_windows"]

logger = logging.getLogger(__name__)

ISAID_CLASSES = (
    "storage_tank", "Large_Vehicle", "Small_Vehicle", "plane", "ship", "Swimming_pool",
    "Harbor", "tennis_court", "Ground_Track_Field", "Soccer_ball_field", "baseball_diamond",
    "Bridge", "basketball_court", "Roundabout", "Helicopter",
)  # fmt: skip

Window = Tuple[int, int, int, int]  # x0, y0, x1, y1 (end exclusive)


def patch_windows(height: int, width: int, patch: int = 800, overlap: int = 200) -> List[Window]:
    """The devkit's patch windows of an image (one window, the whole image, unless both sides
    exceed ``patch``)."""
    if not (height > patch and width > patch):
        return [(0, 0, width, height)]
    stride = patch - overlap
    xs = sorted({min(x, width - patch) for x in range(0, width, stride)})
    ys = sorted({min(y, height - patch) for y in range(0, height, stride)})
    return [(x, y, x + patch, y + patch) for x in xs for y in ys]


def _local_mask(segmentation, height: int, width: int, json_file: Path, ann_id) -> Tuple[
        np.ndarray, int, int]:
    """The instance mask on the smallest canvas holding its polygons: (mask, x0, y0)."""
    if isinstance(segmentation, list) and segmentation:
        points = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2)
                                 for p in segmentation])
        x0, y0 = max(0, math.floor(points[:, 0].min())), max(0, math.floor(points[:, 1].min()))
        x1 = min(width, math.ceil(points[:, 0].max()) + 1)
        y1 = min(height, math.ceil(points[:, 1].max()) + 1)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 0), bool), 0, 0
        shifted = [(np.asarray(p, np.float64).reshape(-1, 2) - (x0, y0)).ravel().tolist()
                   for p in segmentation]
        rle = mask_util.merge(mask_util.frPyObjects(shifted, y1 - y0, x1 - x0))
        return mask_util.decode(rle).astype(bool), x0, y0
    if isinstance(segmentation, dict):
        return mask_util.decode(segmentation_to_rle(segmentation, height, width)).astype(bool), 0, 0
    raise ValueError(f"{json_file}: annotation {ann_id} has no polygon or RLE 'segmentation'")


def _load(json_file: Path) -> dict:
    try:
        data = json.loads(require(json_file, "iSAID annotation json").read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_file}: not valid JSON ({e})") from None
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{json_file}: not a COCO json, missing '{key}'")
    return data


def _convert_split(root: Path, out: Path, split: str, patch: int, overlap: int,
                   min_pixels: int) -> int:
    json_file = root / split / "Annotations" / f"iSAID_{split}.json"
    data = _load(json_file)
    image_dir = require(root / split / "images", "folder of the DOTA images")
    class_of: Dict[int, int] = {}
    for cat in data["categories"]:
        if cat["name"] not in ISAID_CLASSES:
            raise ValueError(f"{json_file}: unknown category {cat['name']!r} (id {cat['id']})")
        class_of[cat["id"]] = ISAID_CLASSES.index(cat["name"]) + 1
    by_image: Dict[int, List[dict]] = {im["id"]: [] for im in data["images"]}
    for ann in data["annotations"]:
        if ann["image_id"] not in by_image:
            raise ValueError(f"{json_file}: annotation {ann['id']} names unknown image "
                             f"{ann['image_id']}")
        by_image[ann["image_id"]].append(ann)
    for entry in data["images"]:
        if not (image_dir / entry["file_name"]).is_file():
            raise FileNotFoundError(
                f"{json_file}: image {entry['id']} '{entry['file_name']}' is not in {image_dir}")

    images, annotations, dropped = [], [], 0
    (out / "images").mkdir(parents=True, exist_ok=True)
    for entry in tqdm(data["images"], desc=f"iSAID {split}"):
        src = image_dir / entry["file_name"]
        height, width = entry["height"], entry["width"]
        windows = patch_windows(height, width, patch, overlap)
        instances = [(_local_mask(a["segmentation"], height, width, json_file, a["id"]),
                      class_of[a["category_id"]]) for a in by_image[entry["id"]]]
        stem = Path(entry["file_name"]).stem
        with PatchWriter(src) as patches:
            for x0, y0, x1, y1 in windows:
                if len(windows) == 1:
                    name = entry["file_name"]
                    link_image(src, out / "images" / name)
                else:
                    name = f"{stem}_{y0}_{y1}_{x0}_{x1}.png"
                    patches.write((x0, y0, x1, y1), out / "images" / name)
                image_id = len(images) + 1
                images.append({"id": image_id, "file_name": name, "height": y1 - y0,
                               "width": x1 - x0})
                for (local, lx, ly), category in instances:
                    ix0, iy0 = max(lx, x0), max(ly, y0)
                    ix1, iy1 = min(lx + local.shape[1], x1), min(ly + local.shape[0], y1)
                    if ix1 <= ix0 or iy1 <= iy0:
                        continue
                    visible = local[iy0 - ly:iy1 - ly, ix0 - lx:ix1 - lx]
                    count = int(visible.sum())
                    if count < min_pixels:
                        dropped += count > 0
                        continue
                    mask = np.zeros((y1 - y0, x1 - x0), bool)
                    mask[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = visible
                    ann = instance_annotation(mask, category, with_mask=split == "val")
                    annotations.append({**ann, "image_id": image_id})
    if dropped:
        logger.warning(f"iSAID {split}: dropped {dropped} instance parts of fewer than "
                       f"{min_pixels} pixels in a patch")
    write_coco_json(out / f"{split}.json", images, annotations, categories(ISAID_CLASSES))
    return len(images)


def convert_isaid(isaid_root, out, patch: int = 800, overlap: int = 200,
                  min_pixels: int = 5) -> dict:
    """Write ``out/train.json`` (boxes) and ``out/val.json`` (RLE masks) of the patches, with
    the patch images under ``out/images/``. A split whose json exists is skipped, and so is
    every patch image already written.

    Returns:
        {split: number of patches} of the splits written.
    """
    if not 0 <= overlap < patch:
        raise ValueError(f"overlap must be in [0, patch), got overlap={overlap}, patch={patch}")
    root, out = Path(isaid_root), Path(out)
    return {split: _convert_split(root, out, split, patch, overlap, min_pixels)
            for split in splits_to_write(out, ("train", "val"))}
