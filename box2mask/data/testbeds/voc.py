"""Pascal VOC 2012 + SBD → COCO-format instance sets (the 10,582 / 1,449 "train_aug" split).

Raw inputs, as the official archives unpack:

* ``VOCdevkit/VOC2012/{JPEGImages, SegmentationObject, SegmentationClass,
  ImageSets/Segmentation/{train,val}.txt}``: ``SegmentationObject/*.png`` is a palette PNG of
  instance indices (0 background, 1..N instances, 255 void: object boundaries and
  "difficult" regions); ``SegmentationClass/*.png`` gives the class (1..20) of those pixels.
* ``benchmark_RELEASE/dataset/{img, inst, train.txt, val.txt}`` (SBD): ``inst/<id>.mat``
  holds a struct ``GTinst`` with ``Segmentation`` (instance index per pixel) and
  ``Categories`` (class 1..20 of each instance).

train = (SBD train ∪ SBD val ∪ VOC train) − VOC val, annotated from SBD where SBD has the image
and from VOC otherwise; boxes and classes only. val = VOC 2012 segmentation val with RLE masks;
its void pixels belong to no instance and are stored per image as the RLE ``void`` (the VOC
instance evaluator leaves them out of every IoU).
"""
import logging
from pathlib import Path
from typing import List, Tuple

import numpy as np
import scipy.io
from detectron2.data.datasets.pascal_voc import CLASS_NAMES as VOC_CLASSES
from PIL import Image
from tqdm import tqdm

from .common import (
    categories,
    encode_mask,
    instance_annotation,
    link_image,
    read_id_list,
    require,
    splits_to_write,
    write_coco_json,
)

__all__ = ["VOC_CLASSES", "convert_voc_sbd", "read_sbd_instances", "read_voc_instances"]

logger = logging.getLogger(__name__)

VOID = 255


def read_sbd_instances(mat_path: Path) -> List[Tuple[np.ndarray, int]]:
    """(mask, class 1..20) of each instance of an SBD ``inst/*.mat``; empty ones skipped."""
    try:
        mat = scipy.io.loadmat(str(mat_path), squeeze_me=True, struct_as_record=False)
    except (ValueError, OSError) as e:
        raise ValueError(f"{mat_path}: not a readable MATLAB file ({e})") from None
    if "GTinst" not in mat:
        variables = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{mat_path}: no 'GTinst' struct (variables: {variables})")
    gt = mat["GTinst"]
    if not (hasattr(gt, "Segmentation") and hasattr(gt, "Categories")):
        raise ValueError(f"{mat_path}: 'GTinst' lacks 'Segmentation' or 'Categories'")
    seg = np.asarray(gt.Segmentation)
    classes = np.atleast_1d(gt.Categories).astype(int)
    if seg.ndim != 2:
        raise ValueError(f"{mat_path}: GTinst.Segmentation is not a 2-D array")
    out = []
    for index, category in enumerate(classes, 1):
        if not 1 <= category <= len(VOC_CLASSES):
            raise ValueError(f"{mat_path}: GTinst.Categories[{index - 1}] = {category}, not 1..20")
        mask = seg == index
        if mask.any():
            out.append((mask, int(category)))
    return out


def _read_palette_png(path: Path) -> np.ndarray:
    with Image.open(require(path, "VOC palette PNG")) as image:
        if image.mode != "P":
            raise ValueError(f"{path}: expected a palette ('P') PNG, got mode {image.mode}")
        return np.asarray(image)


def read_voc_instances(object_png: Path, class_png: Path) -> Tuple[List[Tuple[np.ndarray, int]],
                                                                    np.ndarray]:
    """Instances of a VOC ``SegmentationObject`` PNG with their classes from the
    ``SegmentationClass`` PNG, and the void mask (pixels 255).

    Returns:
        ([(mask (H, W) bool, class 1..20)], void (H, W) bool)
    """
    objects, classes = _read_palette_png(object_png), _read_palette_png(class_png)
    if objects.shape != classes.shape:
        raise ValueError(f"{object_png}: size {objects.shape} differs from {class_png}")
    out = []
    for index in np.unique(objects):
        if index in (0, VOID):
            continue
        mask = objects == index
        labels = classes[mask]
        labels = labels[(labels > 0) & (labels <= len(VOC_CLASSES))]
        if labels.size == 0:
            raise ValueError(f"{class_png}: instance {index} of {object_png.name} has no class")
        out.append((mask, int(np.bincount(labels).argmax())))
    return out, objects == VOID


def convert_voc_sbd(voc_root, sbd_root, out) -> dict:
    """Write ``out/train.json`` (boxes) and ``out/val.json`` (RLE masks, void per image) with
    the images under ``out/images/`` (symlinks). A split whose json exists is skipped.

    Returns:
        {"train": number of images, "val": number of images} of the splits written.
    """
    voc, sbd, out = Path(voc_root), Path(sbd_root), Path(out)
    for sub in ("JPEGImages", "SegmentationObject", "SegmentationClass"):
        require(voc / sub, "VOCdevkit/VOC2012 layout")
    for sub in ("img", "inst"):
        require(sbd / sub, "SBD benchmark_RELEASE/dataset layout")
    voc_train = read_id_list(voc / "ImageSets/Segmentation/train.txt")
    voc_val = read_id_list(voc / "ImageSets/Segmentation/val.txt")
    sbd_ids = set(read_id_list(sbd / "train.txt")) | set(read_id_list(sbd / "val.txt"))
    train_ids = sorted((sbd_ids | set(voc_train)) - set(voc_val))
    written = {}
    ids_of = {"train": train_ids, "val": voc_val}
    for split in splits_to_write(out, ids_of):
        ids, json_path = ids_of[split], out / f"{split}.json"
        images, annotations = [], []
        for image_id, name in enumerate(tqdm(ids, desc=f"VOC {split}"), 1):
            jpg = voc / "JPEGImages" / f"{name}.jpg"
            if not jpg.exists():
                jpg = require(sbd / "img" / f"{name}.jpg", "image of a listed id")
            link_image(jpg, out / "images" / jpg.name)
            image = {"id": image_id, "file_name": jpg.name}
            if split == "train" and name in sbd_ids:
                instances = read_sbd_instances(require(sbd / "inst" / f"{name}.mat", "SBD mat"))
            else:
                instances, void = read_voc_instances(voc / "SegmentationObject" / f"{name}.png",
                                                     voc / "SegmentationClass" / f"{name}.png")
                if split == "val":
                    image["void"] = encode_mask(void)
            with Image.open(jpg) as im:
                image["width"], image["height"] = im.size
            for mask, category in instances:
                if mask.shape != (image["height"], image["width"]):
                    raise ValueError(f"{name}: annotation size {mask.shape} differs from {jpg}")
                ann = instance_annotation(mask, category, with_mask=split == "val")
                annotations.append({**ann, "image_id": image_id})
            images.append(image)
        write_coco_json(json_path, images, annotations, categories(VOC_CLASSES))
        written[split] = len(images)
    return written
