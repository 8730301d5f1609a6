"""Registration of COCO-format instance sets whose annotations may be boxes only.

Box-supervised training sets need no ``segmentation``; where masks are present they are kept
in the dicts for evaluation only (the training mapper never passes them to a box-supervised
model). Degenerate boxes are dropped with a counted warning, boxes partly outside the image are
clipped, and images without instances are kept (training leaves them out by
``DATALOADER.FILTER_EMPTY_ANNOTATIONS``, :func:`box2mask.data.build_train_dataset`).

A registered set loads into a :class:`~box2mask.data.serialized.SerializedDicts`, a read-only
sequence of the dataset dicts stored as one buffer of pickles: a large json is never held as
a list of dicts beside its parsed copy.
"""
import json
import logging
import math
import os
from collections import defaultdict
from typing import Dict, List, Tuple

import pycocotools.mask as mask_util
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json
from detectron2.structures import BoxMode

from .serialized import SerializedDicts, SerializedDictsWriter

__all__ = ["register_box_coco", "load_box_coco_json", "load_box_coco_serialized",
           "check_coco_json"]

logger = logging.getLogger(__name__)

_REQUIRED = {
    "": ("images", "annotations", "categories"),
    "images": ("id", "file_name", "height", "width"),
    "annotations": ("id", "image_id", "bbox", "category_id"),
    "categories": ("id", "name"),
}

# The annotation fields detectron2's load_coco_json copies into a dataset dict.
_ANN_KEYS = ("iscrowd", "bbox", "keypoints", "category_id")


def check_coco_json(json_file: str, annotated: bool = True) -> dict:
    """Load ``json_file`` and check it is COCO-instances shaped.

    Checked: the required fields; unique image, annotation and category ids; positive integer
    image sizes; every annotation's image and category listed; boxes of four finite numbers.

    Args:
        json_file: the json's path.
        annotated: False for an image list without ``annotations`` (COCO test-dev).
    Returns:
        the loaded json.
    Raises:
        ValueError naming the file and the first missing or malformed entry.
    """
    try:
        with open(json_file) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{json_file}: annotation file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{json_file}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{json_file}: not a COCO json (top level is not an object)")
    sections = _REQUIRED[""] if annotated else ("images", "categories")
    for key in sections:
        if key not in data:
            raise ValueError(f"{json_file}: not a COCO json, missing top-level field '{key}'")
        if not isinstance(data[key], list):
            raise ValueError(f"{json_file}: '{key}' must be a list, got {type(data[key]).__name__}")
    for section in sections:
        for i, entry in enumerate(data[section]):
            if not isinstance(entry, dict):
                raise ValueError(f"{json_file}: {section}[{i}] is not an object: {entry!r:.80}")
            for key in _REQUIRED[section]:
                if key not in entry:
                    raise ValueError(f"{json_file}: {section}[{i}] lacks the field '{key}'")
    if not data["categories"]:
        raise ValueError(f"{json_file}: 'categories' is empty")
    image_ids = _unique_ids(data["images"], "images", json_file)
    category_ids = _unique_ids(data["categories"], "categories", json_file)
    for i, image in enumerate(data["images"]):
        for key in ("height", "width"):
            if not (_is_number(image[key]) and image[key] >= 1 and image[key] == int(image[key])):
                raise ValueError(
                    f"{json_file}: images[{i}] (id {image['id']!r}) has {key} {image[key]!r}; "
                    "it must be a positive integer"
                )
    _unique_ids(data.get("annotations", ()), "annotations", json_file)
    for i, ann in enumerate(data.get("annotations", ())):
        where = f"{json_file}: annotations[{i}] (id {ann['id']!r})"
        bbox = ann["bbox"]
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4):
            raise ValueError(f"{where}: 'bbox' must be [x, y, w, h], got {bbox!r}")
        if not all(_is_number(v) for v in bbox):
            raise ValueError(f"{where}: 'bbox' must be four finite numbers, got {bbox!r}")
        if ann["image_id"] not in image_ids:
            raise ValueError(f"{where} refers to image_id {ann['image_id']!r}, not in 'images'")
        if ann["category_id"] not in category_ids:
            raise ValueError(
                f"{where} has category_id {ann['category_id']!r}, not in 'categories' "
                f"(ids {sorted(category_ids, key=str)[:10]})"
            )
    return data


def _is_number(value) -> bool:
    """A finite int or float (json's NaN and Infinity, strings, None and booleans are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _unique_ids(entries: List[Dict], section: str, json_file: str) -> set:
    """The set of ``id`` of ``entries``; ValueError naming the file and a repeated id."""
    ids = {}
    for i, entry in enumerate(entries):
        key = entry["id"]
        if not isinstance(key, (int, str)) or isinstance(key, bool):
            raise ValueError(f"{json_file}: {section}[{i}] has id {key!r}: an int or string")
        if key in ids:
            raise ValueError(
                f"{json_file}: {section}[{ids[key]}] and {section}[{i}] have the same id {key!r}"
            )
        ids[key] = i
    return set(ids)


def _sanitize_record(record: Dict) -> Tuple[int, int]:
    """Drop the boxes of ``record`` with w or h <= 0 or outside the image, clip the others to
    the image; returns (dropped, clipped)."""
    height, width = record["height"], record["width"]
    kept = []
    dropped = clipped = 0
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
    return dropped, clipped


def _warn_sanitized(dropped: int, clipped: int, json_file: str) -> None:
    if dropped:
        logger.warning(
            f"{json_file}: dropped {dropped} boxes with zero or negative width/height "
            "or lying outside their image"
        )
    if clipped:
        logger.warning(f"{json_file}: clipped {clipped} boxes partly outside their image")


def _sanitize_boxes(dicts: List[Dict], json_file: str) -> List[Dict]:
    """Drop boxes with w or h <= 0 (counted in a warning); clip boxes to their image."""
    dropped = clipped = 0
    for record in dicts:
        d, c = _sanitize_record(record)
        dropped, clipped = dropped + d, clipped + c
    _warn_sanitized(dropped, clipped, json_file)
    return dicts


def load_box_coco_json(
    json_file: str, image_root: str, dataset_name: str, annotated: bool = True
) -> List[Dict]:
    """Load a COCO json (masks optional) into a list of detectron2 dataset dicts, boxes
    sanitised, with detectron2's ``load_coco_json``.

    The json is checked (:func:`check_coco_json`) and released before detectron2 reads it.
    ``annotated=False``: an image list (COCO test-dev). Registered sets load with
    :func:`load_box_coco_serialized` instead (the same dicts, stored compactly).
    """
    check_coco_json(json_file, annotated)
    dicts = load_coco_json(json_file, image_root, dataset_name)
    return _sanitize_boxes(dicts, json_file)


def load_box_coco_serialized(
    json_file: str, image_root: str, dataset_name: str, annotated: bool = True
) -> SerializedDicts:
    """The dicts of :func:`load_box_coco_json` (same order, same content, same metadata set on
    ``dataset_name``) as a :class:`SerializedDicts`.

    The json is parsed once and checked; each image's dict is then built, sanitised and
    pickled in turn while the parsed json's entries of that image are released, so the peak
    is about one parsed copy of the json and the result the size of the pickles.
    """
    return _serialize_coco(check_coco_json(json_file, annotated), json_file, image_root,
                           dataset_name)


def _serialize_coco(data: dict, json_file: str, image_root: str,
                    dataset_name: str) -> SerializedDicts:
    """detectron2 0.6's ``load_coco_json`` over the checked json ``data`` (emptied on the
    way), one image at a time into a :class:`SerializedDicts`."""
    meta = MetadataCatalog.get(dataset_name)
    categories = data.pop("categories")
    cat_ids = sorted(c["id"] for c in categories)
    meta.thing_classes = [c["name"] for c in sorted(categories, key=lambda c: c["id"])]
    if not (min(cat_ids) == 1 and max(cat_ids) == len(cat_ids)) and "coco" not in dataset_name:
        logger.warning(
            f"{json_file}: category ids are not in [1, #categories]; they are mapped to "
            f"0..{len(cat_ids) - 1} in id order"
        )
    id_map = {v: i for i, v in enumerate(cat_ids)}
    meta.thing_dataset_id_to_contiguous_id = id_map
    del categories

    images = {image["id"]: image for image in data.pop("images")}
    by_image = defaultdict(list)
    annotations = data.pop("annotations", [])
    for anno in annotations:
        by_image[anno["image_id"]].append(anno)
    del annotations
    data.clear()  # fields beyond the three sections (info, licenses, ...)

    image_ids = sorted(images)
    logger.info(f"Loaded {len(image_ids)} images in COCO format from {json_file}")
    writer = SerializedDictsWriter()
    dropped = clipped = no_segmentation = 0
    for image_id in image_ids:
        image = images.pop(image_id)
        record = {
            "file_name": os.path.join(image_root, image["file_name"]),
            "height": image["height"],
            "width": image["width"],
            "image_id": image_id,
        }
        objs = []
        for anno in by_image.pop(image_id, ()):
            if anno.get("ignore", 0) != 0:
                raise ValueError(
                    f"{json_file}: annotation id {anno['id']!r} has 'ignore', which is not "
                    "supported"
                )
            obj = {key: anno[key] for key in _ANN_KEYS if key in anno}
            segm = anno.get("segmentation", None)
            if segm:  # either list[list[float]] or dict(RLE)
                if isinstance(segm, dict):
                    if isinstance(segm["counts"], list):  # uncompressed RLE -> compressed
                        segm = mask_util.frPyObjects(segm, *segm["size"])
                else:
                    segm = [poly for poly in segm if len(poly) % 2 == 0 and len(poly) >= 6]
                    if len(segm) == 0:
                        no_segmentation += 1
                        continue  # detectron2 ignores an instance without a valid polygon
                obj["segmentation"] = segm
            keypoints = anno.get("keypoints", None)
            if keypoints:  # pixel indices -> coordinates, as detectron2
                obj["keypoints"] = [v + 0.5 if i % 3 != 2 else v for i, v in enumerate(keypoints)]
            obj["bbox_mode"] = BoxMode.XYWH_ABS
            obj["category_id"] = id_map[obj["category_id"]]
            objs.append(obj)
        record["annotations"] = objs
        d, c = _sanitize_record(record)
        dropped, clipped = dropped + d, clipped + c
        writer.append(record)
    if no_segmentation:
        logger.warning(
            f"{json_file}: left out {no_segmentation} instances without a valid polygon "
            "(fewer than 3 points), as detectron2 does"
        )
    _warn_sanitized(dropped, clipped, json_file)
    return writer.finish()


def register_box_coco(
    name: str, json_file: str, image_root: str, *, annotated: bool = True, **metadata
) -> None:
    """Register a COCO-format instance set whose annotations may lack ``segmentation``.

    Args:
        name: dataset name used in ``cfg.DATASETS.TRAIN`` / ``TEST``.
        json_file: COCO instances json; boxes are required, masks optional.
        image_root: directory the json's ``file_name`` entries are relative to.
        annotated: False for an image list without annotations (COCO test-dev).
        metadata: more metadata of the set, e.g. ``evaluator_type`` (default ``"coco"``, see
            :func:`box2mask.evaluation.build_evaluator`) or ``thing_classes``.

    ``DatasetCatalog.get(name)`` returns the set as a :class:`SerializedDicts`
    (:func:`load_box_coco_serialized`): indexing, slicing and iterating give the dicts.
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
    DatasetCatalog.register(
        name, lambda: load_box_coco_serialized(json_file, image_root, name, annotated)
    )
    MetadataCatalog.get(name).set(
        json_file=json_file, image_root=image_root, **{"evaluator_type": "coco", **metadata}
    )
