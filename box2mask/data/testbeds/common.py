"""Helpers shared by the testbed converters: checked raw paths, masks to COCO fields, output.

The converters read official downloads and write ``OUT/{train,val}.json`` (COCO format) and
``OUT/images/``; they never write inside the raw folders.
"""
import argparse
import json
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

logger = logging.getLogger(__name__)


def require(path, what: str) -> Path:
    """``path`` as a Path, or FileNotFoundError naming it and what the raw layout expects."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing ({what})")
    return path


def read_id_list(path) -> List[str]:
    """Image ids of a split list (one per line, blank lines skipped)."""
    path = require(path, "split list, one image id per line")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def encode_mask(mask: np.ndarray) -> dict:
    """Binary (H, W) mask → COCO RLE with a str ``counts`` (JSON-serialisable)."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def mask_box(mask: np.ndarray) -> List[float]:
    """Tight ``[x, y, w, h]`` box of the pixels of a non-empty (H, W) mask."""
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]


def instance_annotation(mask: np.ndarray, category_id: int, with_mask: bool) -> dict:
    """COCO annotation (no ``id`` / ``image_id`` yet) of one non-empty instance mask."""
    ann = {"category_id": int(category_id), "bbox": mask_box(mask),
           "area": float(mask.sum()), "iscrowd": 0}
    if with_mask:
        ann["segmentation"] = encode_mask(mask)
    return ann


def prepare_cli(doc: str, folder: str) -> argparse.ArgumentParser:
    """The parser of a ``projects/<testbed>/prepare.py``, described by the first line of
    ``doc``, with ``--out`` (default ``$DETECTRON2_DATASETS/<folder>``); turns on INFO logging
    (the converters' progress and skipped splits)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"),
                                                      folder),
                        help=f"output folder (default: $DETECTRON2_DATASETS/{folder})")
    return parser


def log_written(out, written: dict) -> None:
    """Log what a converter returned: {split: count} of the splits it wrote."""
    logger.info(f"{out}: wrote {written or 'nothing (every split exists)'}")


def splits_to_write(out: Path, splits: Iterable[str]) -> Iterator[str]:
    """The splits whose ``out/<split>.json`` does not exist (checked as each is reached); each
    one that exists is logged as skipped."""
    for split in splits:
        json_path = out / f"{split}.json"
        if json_path.exists():
            logger.info(f"{json_path} exists: skipped")
        else:
            yield split


class PatchWriter:
    """Writes crops of one source image, opened at the first crop that is not on disk yet;
    each crop is saved under a temporary name first, so that an interrupted run leaves no
    partial image behind. A context manager (the source is closed on exit)."""

    def __init__(self, src: Path):
        self.src = src
        self._image = None

    def write(self, window: Tuple[int, int, int, int], dst: Path) -> None:
        """Save the crop ``window`` ``(x0, y0, x1, y1)`` (end exclusive) of the source as
        ``dst`` unless ``dst`` exists already."""
        if dst.exists():
            return
        if self._image is None:
            self._image = Image.open(self.src)
        tmp = dst.with_name(f"{dst.stem}.tmp{dst.suffix}")
        self._image.crop(tuple(window)).save(tmp)
        os.replace(tmp, dst)

    def __enter__(self) -> "PatchWriter":
        return self

    def __exit__(self, *exc) -> None:
        if self._image is not None:
            self._image.close()
            self._image = None


def link_image(src: Path, dst: Path) -> None:
    """Symlink ``dst`` → ``src`` (absolute) unless ``dst`` exists already."""
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src.resolve(), dst)


def categories(class_names: Iterable[str]) -> List[dict]:
    """COCO ``categories`` with ids 1..K in the order of ``class_names``."""
    return [{"id": i, "name": name} for i, name in enumerate(class_names, 1)]


def write_coco_json(path: Path, images: List[dict], annotations: Optional[List[dict]],
                    categories: List[dict]) -> None:
    """Write a COCO instances json with annotation ids 1..N (``annotations`` None: an image
    list without annotations, as COCO test-dev). Written to a temporary name first so that an
    interrupted run leaves no json behind."""
    data = {"images": images, "categories": categories}
    if annotations is not None:
        for i, ann in enumerate(annotations, 1):
            ann["id"] = i
        data["annotations"] = annotations
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def held_out_split(names: List[str], val_fraction: float, path: Path) -> Dict[str, List[str]]:
    """``{"train": [...], "val": [...]}`` of ``names``: the split stored at ``path`` if there is
    one (its names must all be in ``names``), else a fraction drawn with seed 0 (at least one
    name on each side when there are two or more), then stored at ``path``."""
    if path.exists():
        split = json.loads(path.read_text())
        missing = set(split["train"]) | set(split["val"])
        missing -= set(names)
        if missing:
            raise ValueError(f"{path}: names {len(missing)} entries that are not in the raw "
                             f"folder, e.g. {sorted(missing)[0]!r}")
        return split
    order = np.random.default_rng(0).permutation(len(names))
    count = int(round(val_fraction * len(names)))
    if val_fraction > 0 and len(names) > 1:
        count = min(max(count, 1), len(names) - 1)
    val = sorted(names[i] for i in order[:count])
    split = {"train": sorted(set(names) - set(val)), "val": val}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=1))
    return split
