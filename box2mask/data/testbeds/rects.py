"""ICDAR 2019 ReCTS (Chinese text on signboards) → text-line instance sets of one class.

Raw inputs, as the official training archive unpacks: ``RECTS_ROOT/img/<name>.jpg`` and
``RECTS_ROOT/gt/<name>.json``, one json per image::

    {"chars": [{"points": [x1, y1, ..., x4, y4], "transcription": "字", "ignore": 0}, ...],
     "lines": [{"points": [x1, y1, ..., x4, y4], "transcription": "...", "ignore": 0}, ...]}

(polygons of four vertices, clockwise from the top left). Text lines are the instances, one
class ``text``; characters are not used. Lines with ``ignore: 1`` become crowd annotations
(``iscrowd: 1``): the trainer takes no box from them and the COCO evaluation matches
detections on them without counting them. The test labels are not public: val is a held-out
fraction of the training images, drawn once with a fixed seed and written to
``OUT/split.json``, which later runs reuse. ``train.json`` holds boxes; ``val.json`` also the
line polygons as RLE masks.
"""
import json
import logging
from pathlib import Path
from typing import Dict, List

import numpy as np
import pycocotools.mask as mask_util
from PIL import Image
from tqdm import tqdm

from .common import (
    categories, held_out_split, link_image, require, splits_to_write, write_coco_json,
)

__all__ = ["RECTS_CLASSES", "convert_rects", "read_rects_lines"]

logger = logging.getLogger(__name__)

RECTS_CLASSES = ("text",)


def read_rects_lines(json_path: Path) -> List[dict]:
    """Text lines of a ReCTS ground-truth json: ``[{"polygon": (4, 2), "ignore": bool}]``.

    Raises:
        ValueError naming the file and the entry when the json is not the documented one.
    """
    try:
        data = json.loads(require(json_path, "ReCTS ground-truth json").read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or "lines" not in data:
        raise ValueError(f"{json_path}: no 'lines' list (ReCTS json: 'chars' and 'lines')")
    lines = []
    for i, line in enumerate(data["lines"]):
        points = line.get("points") if isinstance(line, dict) else None
        if not (isinstance(points, list) and len(points) == 8):
            raise ValueError(f"{json_path}: lines[{i}] needs 'points' [x1, y1, ..., x4, y4], "
                             f"got {points!r}")
        lines.append({"polygon": np.asarray(points, np.float64).reshape(4, 2),
                      "ignore": bool(line.get("ignore", 0))})
    return lines


def convert_rects(rects_root, out, val_fraction: float = 0.1) -> Dict[str, int]:
    """Write ``out/train.json`` (boxes), ``out/val.json`` (boxes and RLE masks),
    ``out/split.json`` and the images under ``out/images/`` (symlinks). A split whose json
    exists is skipped.

    Returns:
        {split: number of images} of the splits written.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root, out = Path(rects_root), Path(out)
    image_dir = require(root / "img", "folder of the ReCTS images")
    gt_dir = require(root / "gt", "folder of the ReCTS ground-truth jsons")
    files = {p.stem: p for p in sorted(image_dir.iterdir())
             if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    if not files:
        raise FileNotFoundError(f"{image_dir}: no images")
    split = held_out_split(sorted(files), val_fraction, out / "split.json")
    written = {}
    for name in splits_to_write(out, ("train", "val")):
        json_path = out / f"{name}.json"
        images, annotations, degenerate = [], [], 0
        for image_id, stem in enumerate(tqdm(split[name], desc=f"ReCTS {name}"), 1):
            src = files[stem]
            lines = read_rects_lines(gt_dir / f"{stem}.json")
            with Image.open(src) as im:
                width, height = im.size
            link_image(src, out / "images" / src.name)
            images.append({"id": image_id, "file_name": src.name, "height": height,
                           "width": width})
            for line in lines:
                polygon = line["polygon"].clip(0, (width, height))
                (x0, y0), (x1, y1) = polygon.min(0), polygon.max(0)
                if x1 <= x0 or y1 <= y0:
                    degenerate += 1
                    continue
                ann = {"image_id": image_id, "category_id": 1,
                       "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                       "area": float((x1 - x0) * (y1 - y0)), "iscrowd": int(line["ignore"])}
                if name == "val":
                    rle = mask_util.frPyObjects([polygon.ravel().tolist()], height, width)[0]
                    ann["area"] = float(mask_util.area(rle))
                    rle["counts"] = rle["counts"].decode("ascii")
                    ann["segmentation"] = rle
                annotations.append(ann)
        if degenerate:
            logger.warning(f"ReCTS {name}: skipped {degenerate} lines whose polygon has no "
                           "width or height inside the image")
        write_coco_json(json_path, images, annotations, categories(RECTS_CLASSES))
        written[name] = len(images)
    return written
