"""LiTS (liver tumour CT) → 8-bit axial slices with liver and tumour instances.

Raw inputs, as the two official training archives unpack: ``volume-<N>.nii`` with
``segmentation-<N>.nii`` beside it (labels 0 background, 1 liver, 2 tumour), in any folders
under ``LITS_ROOT`` (``Training Batch 1/``, ``Training Batch 2/``); ``.nii.gz`` is read too.
Volumes are read with nibabel one at a time, the CT slice by slice.

Every axial slice that holds liver becomes one image ``images/volume-<N>_<slice>.png``:
Hounsfield units clipped to a window (default −100..400) and mapped to 0..255, the slice
turned to the radiological view (anterior at the top, the patient's right on the left),
resized to ``size``×``size`` (bilinear; labels nearest). Instances are the 8-connected
components of the liver (labels 1 and 2: the organ with its tumours, which is how LiTS scores
the liver and what a box drawn around the organ encloses) and, separately, of the tumours
(label 2). Volumes, never slices, are split: 20 % of them (seed 0) form val, listed in
``OUT/split.json``, which later runs reuse.
"""
import logging
import re
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import nibabel as nib
import numpy as np
from tqdm import tqdm

from .common import (
    categories, held_out_split, instance_annotation, require, splits_to_write, write_coco_json,
)

__all__ = ["LITS_CLASSES", "convert_lits", "find_lits_volumes", "hu_window"]

logger = logging.getLogger(__name__)

LITS_CLASSES = ("liver", "tumor")
VAL_FRACTION = 0.2

_VOLUME = re.compile(r"volume-(\d+)\.nii(\.gz)?$")


def find_lits_volumes(root) -> Dict[str, Tuple[Path, Path]]:
    """``volume-<N>`` → (volume file, segmentation file) of every volume under ``root``.

    Raises:
        FileNotFoundError naming a volume without its segmentation, or the root without
        volumes.
    """
    root = require(root, "LiTS folder holding volume-<N>.nii and segmentation-<N>.nii")
    volumes = {}
    for path in sorted(root.rglob("volume-*.nii*")):
        match = _VOLUME.search(path.name)
        if not match:
            continue
        seg = path.with_name(f"segmentation-{match.group(1)}.nii{match.group(2) or ''}")
        volumes[f"volume-{match.group(1)}"] = (path, require(seg, f"segmentation of {path.name}"))
    if not volumes:
        raise FileNotFoundError(f"{root}: no volume-<N>.nii files")
    return dict(sorted(volumes.items(), key=lambda kv: int(kv[0].split("-")[1])))


def hu_window(hu: np.ndarray, low: float, high: float) -> np.ndarray:
    """Hounsfield units clipped to [low, high] and mapped linearly to uint8 0..255."""
    if not high > low:
        raise ValueError(f"window: high ({high}) must exceed low ({low})")
    scaled = (np.clip(hu.astype(np.float32), low, high) - low) * (255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)


def _radiological(plane: np.ndarray, axes: List[int], ornt: np.ndarray) -> np.ndarray:
    """A slice whose two voxel axes are ``axes`` → rows anterior to posterior, columns the
    patient's right to left (``ornt``: nibabel's ``io_orientation``, RAS+)."""
    if ornt[axes[0], 0] == 0:  # the first axis runs left-right: make it the columns
        plane, axes = plane.T, axes[::-1]
    if ornt[axes[0], 1] > 0:  # rows run towards anterior
        plane = plane[::-1]
    if ornt[axes[1], 1] > 0:  # columns run towards the right
        plane = plane[:, ::-1]
    return np.ascontiguousarray(plane)


def _volume_slices(volume: Path, segmentation: Path, window, size: int, out_images: Path):
    """Yield (file name, labels (size, size) uint8) of each liver slice, writing the image."""
    ct, seg = nib.load(str(volume)), nib.load(str(segmentation))
    if ct.ndim != 3 or ct.shape != seg.shape:
        raise ValueError(f"{segmentation}: shape {seg.shape} differs from {volume.name} "
                         f"{ct.shape} (both must be the same 3-D grid)")
    labels = np.asanyarray(seg.dataobj)
    if labels.dtype.kind == "f":
        labels = np.rint(labels)
    low, high = labels.min(), labels.max()
    if low < 0 or high > 2:
        raise ValueError(f"{segmentation}: label values from {low:g} to {high:g} (LiTS: 0 "
                         "background, 1 liver, 2 tumour)")
    labels = labels.astype(np.uint8, copy=False)
    ornt = nib.io_orientation(ct.affine)
    axial = int(np.nonzero(ornt[:, 0] == 2)[0][0])
    others = [a for a in range(3) if a != axial]
    for k in np.nonzero((labels > 0).any(axis=tuple(others)))[0]:
        index = [slice(None)] * 3
        index[axial] = int(k)
        name = f"{volume.name.split('.')[0]}_{int(k):04d}.png"
        plane = cv2.resize(_radiological(labels[tuple(index)], others, ornt),
                           (size, size), interpolation=cv2.INTER_NEAREST)
        dst = out_images / name
        if not dst.exists():
            hu = _radiological(np.asarray(ct.dataobj[tuple(index)], np.float32), others, ornt)
            image = cv2.resize(hu_window(hu, *window), (size, size),
                               interpolation=cv2.INTER_LINEAR)
            tmp = dst.with_name(f"{dst.stem}.tmp.png")
            cv2.imwrite(str(tmp), image)
            tmp.replace(dst)
        yield name, plane


def _instances(labels: np.ndarray) -> List[Tuple[np.ndarray, int]]:
    """(mask, class 1 liver / 2 tumour) of the connected components of a label slice."""
    out = []
    for category, region in ((1, labels > 0), (2, labels == 2)):
        count, components = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
        out.extend((components == i, category) for i in range(1, count))
    return out


def convert_lits(lits_root, out, window=(-100.0, 400.0), size: int = 640) -> Dict[str, int]:
    """Write ``out/train.json`` (boxes), ``out/val.json`` (RLE masks), ``out/split.json``
    (volume names per split) and the slices under ``out/images/``. A split whose json exists
    is skipped, and so is every slice image already written.

    Returns:
        {split: number of slices} of the splits written.
    """
    out = Path(out)
    volumes = find_lits_volumes(lits_root)
    split = held_out_split(list(volumes), VAL_FRACTION, out / "split.json")
    written = {}
    for name in splits_to_write(out, ("train", "val")):
        json_path = out / f"{name}.json"
        (out / "images").mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for volume in tqdm(split[name], desc=f"LiTS {name}", unit="volume"):
            for file_name, labels in _volume_slices(*volumes[volume], window, size,
                                                    out / "images"):
                image_id = len(images) + 1
                images.append({"id": image_id, "file_name": file_name, "height": size,
                               "width": size, "volume": volume})
                for mask, category in _instances(labels):
                    ann = instance_annotation(mask, category, with_mask=name == "val")
                    annotations.append({**ann, "image_id": image_id})
        write_coco_json(json_path, images, annotations, categories(LITS_CLASSES))
        written[name] = len(images)
    return written
