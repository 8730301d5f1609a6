"""DOTA-v1.0 (aerial images, oriented quadrilaterals) → 1024×1024 patch sets with horizontal
boxes, and the reading of DOTA's ``labelTxt`` files.

Raw inputs, as the official archives unpack: ``DOTA_ROOT/{train,val}/images/P*.png`` and
``DOTA_ROOT/{train,val}/labelTxt/P*.txt`` (from ``labelTxt-v1.0/labelTxt.zip``). A label file
starts with two header lines, ``imagesource:<source>`` and ``gsd:<metres per pixel or null>``,
then one object per line: ``x1 y1 x2 y2 x3 y3 x4 y4 <class> <difficult>``.

Images are cut as the DOTA devkit's ``ImgSplit`` does: windows every ``patch - overlap`` pixels
along each side longer than the patch, the last one moved back to end at the border, named
``<image>__1.0__<x0>___<y0>.png`` (a side not longer than the patch is kept whole, without the
devkit's zero padding). An object is kept in a patch when more than 70 % of its polygon's area
lies inside it (the devkit marks the others "difficult 2"; they are left out here and counted),
with the horizontal box of its polygon clipped to the patch. Both ``train.json`` and
``val.json`` hold boxes only: DOTA has no masks. Each image entry also names its full image
(``source``) and the patch offset (``x0``, ``y0``), and the val label files are copied to
``OUT/val_labelTxt/`` for the oriented evaluation on full images
(:class:`box2mask.evaluation.DOTAEvaluator`).
"""
import logging
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from .common import (
    PatchWriter, categories, link_image, require, splits_to_write, write_coco_json,
)

__all__ = ["DOTA_CLASSES", "convert_dota", "dota_windows", "parse_dota_labels"]

logger = logging.getLogger(__name__)

# DOTA-v1.0's 15 classes in the devkit's order.
DOTA_CLASSES = (
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle",
    "large-vehicle", "ship", "tennis-court", "basketball-court", "storage-tank",
    "soccer-ball-field", "roundabout", "harbor", "swimming-pool", "helicopter",
)  # fmt: skip

KEEP_FRACTION = 0.7  # the devkit's split threshold: visible part of an object's polygon area


def parse_dota_labels(path) -> List[dict]:
    """Objects of a DOTA ``labelTxt`` file.

    Returns:
        [{"polygon": (4, 2) float64, "name": class name, "difficult": 0 or 1}]

    Raises:
        ValueError naming the file and line of a malformed object or an unknown class.
    """
    path = require(path, "DOTA labelTxt file")
    objects = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens or tokens[0].startswith(("imagesource:", "gsd:")):
            continue
        if len(tokens) not in (9, 10):
            raise ValueError(f"{path}:{number}: expected 'x1 y1 ... x4 y4 class difficult', "
                             f"got {line.strip()!r}")
        try:
            polygon = np.array([float(t) for t in tokens[:8]]).reshape(4, 2)
            difficult = int(tokens[9]) if len(tokens) == 10 else 0
        except ValueError:
            raise ValueError(f"{path}:{number}: non-numeric coordinate or difficult flag in "
                             f"{line.strip()!r}") from None
        if tokens[8] not in DOTA_CLASSES:
            raise ValueError(f"{path}:{number}: unknown class {tokens[8]!r} "
                             f"(DOTA-v1.0 classes: {', '.join(DOTA_CLASSES)})")
        objects.append({"polygon": polygon, "name": tokens[8], "difficult": difficult})
    return objects


def _starts(size: int, patch: int, stride: int) -> List[int]:
    if size <= patch:
        return [0]
    return list(range(0, size - patch, stride)) + [size - patch]


def dota_windows(height: int, width: int, patch: int = 1024,
                 overlap: int = 200) -> List[Tuple[int, int, int, int]]:
    """The devkit's patch windows ``(x0, y0, x1, y1)`` (end exclusive), row by row of x."""
    stride = patch - overlap
    return [(x, y, min(x + patch, width), min(y + patch, height))
            for x in _starts(width, patch, stride) for y in _starts(height, patch, stride)]


def _clip(polygon: np.ndarray, window) -> Tuple[float, np.ndarray]:
    """(visible fraction of the polygon's area, the visible polygon (K, 2)) in a window."""
    hull = cv2.convexHull(polygon.astype(np.float32).reshape(-1, 1, 2))
    area = float(cv2.contourArea(hull))
    if area <= 0:
        return 0.0, np.zeros((0, 2))
    x0, y0, x1, y1 = window
    rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32).reshape(-1, 1, 2)
    inter, visible = cv2.intersectConvexConvex(hull, rect)
    if inter <= 0 or visible is None:
        return 0.0, np.zeros((0, 2))
    return float(inter) / area, visible.reshape(-1, 2).astype(np.float64)


def _convert_split(root: Path, out: Path, split: str, patch: int, overlap: int) -> int:
    image_dir = require(root / split / "images", "folder of the DOTA images")
    label_dir = require(root / split / "labelTxt", "folder of the DOTA labelTxt files")
    files = sorted(image_dir.glob("*.png"))
    if not files:
        raise FileNotFoundError(f"{image_dir}: no P*.png images")
    labels = {f.stem: parse_dota_labels(require(label_dir / f"{f.stem}.txt",
                                                f"label file of {f.name}")) for f in files}
    if split == "val":
        (out / "val_labelTxt").mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(label_dir / f"{f.stem}.txt", out / "val_labelTxt" / f"{f.stem}.txt")
    class_id = {name: i for i, name in enumerate(DOTA_CLASSES, 1)}
    images, annotations, cut = [], [], 0
    (out / "images").mkdir(parents=True, exist_ok=True)
    for src in tqdm(files, desc=f"DOTA {split}"):
        with Image.open(src) as im:
            width, height = im.size
        with PatchWriter(src) as patches:
            for window in dota_windows(height, width, patch, overlap):
                x0, y0, x1, y1 = window
                dst = out / "images" / f"{src.stem}__1.0__{x0}___{y0}.png"
                if (x1 - x0, y1 - y0) == (width, height):
                    link_image(src, dst)
                else:
                    patches.write(window, dst)
                image_id = len(images) + 1
                images.append({"id": image_id, "file_name": dst.name, "height": y1 - y0,
                               "width": x1 - x0, "source": src.stem, "x0": x0, "y0": y0})
                for obj in labels[src.stem]:
                    fraction, visible = _clip(obj["polygon"], window)
                    if fraction <= KEEP_FRACTION:
                        cut += fraction > 0
                        continue
                    (bx0, by0), (bx1, by1) = visible.min(0), visible.max(0)
                    annotations.append({
                        "image_id": image_id, "category_id": class_id[obj["name"]],
                        "bbox": [bx0 - x0, by0 - y0, bx1 - bx0, by1 - by0],
                        "area": fraction * float(cv2.contourArea(
                            obj["polygon"].astype(np.float32))),
                        "iscrowd": 0, "difficult": obj["difficult"]})
    if cut:
        logger.warning(f"DOTA {split}: left out {cut} object parts with at most "
                       f"{KEEP_FRACTION:.0%} of their area in a patch")
    write_coco_json(out / f"{split}.json", images, annotations, categories(DOTA_CLASSES))
    return len(images)


def convert_dota(dota_root, out, patch: int = 1024, overlap: int = 200) -> Dict[str, int]:
    """Write ``out/{train,val}.json`` (horizontal boxes of the patches), the patch images under
    ``out/images/`` and the val label files under ``out/val_labelTxt/``. A split whose json
    exists is skipped, and so is every patch image already written.

    Returns:
        {split: number of patches} of the splits written.
    """
    if not 0 <= overlap < patch:
        raise ValueError(f"overlap must be in [0, patch), got overlap={overlap}, patch={patch}")
    root, out = Path(dota_root), Path(out)
    return {split: _convert_split(root, out, split, patch, overlap)
            for split in splits_to_write(out, ("train", "val"))}
