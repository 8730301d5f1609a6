"""Registration of COCO-format instance sets whose annotations may be boxes only.

Box-supervised training sets need no ``segmentation``; where masks are present they are kept
in the dicts for evaluation only (the training mapper never passes them to a box-supervised
model). Degenerate boxes are dropped with a counted warning, boxes partly outside the image are
clipped, and images without instances are kept.
"""
import json
import logging
import os
from typing import Dict, List

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json
from detectron2.structures import BoxMode

__all__ = ["register_box_coco", "load_box_coco_json", "check_coco_json"]

logger = logging.getLogger(__name__)

_REQUIRED = {
    "": ("images", "annotations", "categories"),
    "images": ("id", "file_name", "height", "width"),
    "annotations": ("id", "image_id", "bbox", "category_id"),
    "categories": ("id", "name"),
}


def check_coco_json(json_file: str) -> dict:
    """Load ``json_file`` and check it is COCO-instances shaped.

    Raises:
        ValueError naming the file and the first missing or malformed field.
    """
    try:
        with open(json_file) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{json_file}: annotation file does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_file}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{json_file}: not a COCO json (top level is not an object)")
    for key in _REQUIRED[""]:
        if key not in data:
            raise ValueError(f"{json_file}: not a COCO json, missing top-level field '{key}'")
    for section in ("images", "annotations", "categories"):
        for i, entry in enumerate(data[section]):
            for key in _REQUIRED[section]:
                if key not in entry:
                    raise ValueError(f"{json_file}: {section}[{i}] lacks the field '{key}'")
    if not data["categories"]:
        raise ValueError(f"{json_file}: 'categories' is empty")
    for i, ann in enumerate(data["annotations"]):
        bbox = ann["bbox"]
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4):
            raise ValueError(
                f"{json_file}: annotations[{i}]['bbox'] must be [x, y, w, h], got {bbox!r}"
            )
    return data


def _sanitize_boxes(dicts: List[Dict], json_file: str) -> List[Dict]:
    """Drop boxes with w or h <= 0 (counted in a warning); clip boxes to their image."""
    dropped = clipped = 0
    for record in dicts:
        height, width = record["height"], record["width"]
        kept = []
        for anno in record["annotations"]:
            x, y, w, h = anno["bbox"]
            if w <= 0 or h <= 0:
                dropped += 1
                continue
            x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
            x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
            if x1 - x0 <= 0 or y1 - y0 <= 0:  # entirely outside the image
                dropped += 1
                continue
            if (x0, y0, x1, y1) != (x, y, x + w, y + h):
                clipped += 1
                anno["bbox"] = [x0, y0, x1 - x0, y1 - y0]
            anno["bbox_mode"] = BoxMode.XYWH_ABS
            kept.append(anno)
        record["annotations"] = kept
    if dropped:
        logger.warning(
            f"{json_file}: dropped {dropped} boxes with zero or negative width/height "
            "or lying outside their image"
        )
    if clipped:
        logger.warning(f"{json_file}: clipped {clipped} boxes partly outside their image")
    return dicts


def load_box_coco_json(json_file: str, image_root: str, dataset_name: str) -> List[Dict]:
    """Load a COCO json (masks optional) into detectron2 dataset dicts, boxes sanitised."""
    check_coco_json(json_file)
    dicts = load_coco_json(json_file, image_root, dataset_name)
    return _sanitize_boxes(dicts, json_file)


def register_box_coco(name: str, json_file: str, image_root: str) -> None:
    """Register a COCO-format instance set whose annotations may lack ``segmentation``.

    Args:
        name: dataset name used in ``cfg.DATASETS.TRAIN`` / ``TEST``.
        json_file: COCO instances json; boxes are required, masks optional.
        image_root: directory the json's ``file_name`` entries are relative to.
    """
    json_file, image_root = os.fspath(json_file), os.fspath(image_root)
    if name in DatasetCatalog.list():
        meta = MetadataCatalog.get(name)
        if (meta.get("json_file"), meta.get("image_root")) == (json_file, image_root):
            return  # the same set registered again (e.g. a second train_net.main in a process)
        raise ValueError(
            f"data set '{name}' is already registered with {meta.get('json_file')}; "
            f"choose another name for {json_file}"
        )
    DatasetCatalog.register(name, lambda: load_box_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, evaluator_type="coco"
    )
