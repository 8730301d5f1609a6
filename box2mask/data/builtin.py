"""Data sets registered on import, under ``$DETECTRON2_DATASETS`` (default ``./datasets``).

``synthetic_train`` / ``synthetic_val``: the generated demo set
(``python -m box2mask.data.synthetic --out datasets/synthetic``); train is box-only.
"""
import os

from .datasets import register_box_coco

_SPLITS = {
    "synthetic_train": ("synthetic/train.json", "synthetic/train"),
    "synthetic_val": ("synthetic/val.json", "synthetic/val"),
}


def register_all_box2mask(root: str) -> None:
    for name, (json_file, image_root) in _SPLITS.items():
        register_box_coco(name, os.path.join(root, json_file), os.path.join(root, image_root))


register_all_box2mask(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))
