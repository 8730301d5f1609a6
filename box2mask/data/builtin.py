"""Data sets registered on import, under ``$DETECTRON2_DATASETS`` (default ``./datasets``).

``synthetic_train`` / ``synthetic_val``: the generated demo set
(``python -m box2mask.data.synthetic --out datasets/synthetic``); train is box-only.
``synthetic_test``: 500 more images with exact masks from another seed (disjoint from both), for
comparisons that 50 validation images cannot resolve (``SYNTHETIC_TEST`` gives its generator
arguments; ``python -m box2mask.data.synthetic --out datasets/synthetic_test --num-train 0
--num-val 500 --seed 1``).
"""
import os

from .datasets import register_box_coco

_SPLITS = {
    "synthetic_train": ("synthetic/train.json", "synthetic/train"),
    "synthetic_val": ("synthetic/val.json", "synthetic/val"),
    "synthetic_test": ("synthetic_test/val.json", "synthetic_test/val"),
}
# generate_synthetic_dataset arguments of ``synthetic_test`` (its images are the "val" split).
SYNTHETIC_TEST = {"num_train": 0, "num_val": 500, "seed": 1}


def register_all_box2mask(root: str) -> None:
    for name, (json_file, image_root) in _SPLITS.items():
        register_box_coco(name, os.path.join(root, json_file), os.path.join(root, image_root))


register_all_box2mask(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))
