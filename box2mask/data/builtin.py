"""Data sets registered on import, under ``$DETECTRON2_DATASETS`` (default ``./datasets``).

``synthetic_train`` / ``synthetic_val``: the generated demo set
(``python -m box2mask.data.synthetic --out datasets/synthetic``); train is box-only.
``synthetic_test``: 500 more images with exact masks from another seed (disjoint from both), for
comparisons that 50 validation images cannot resolve (``SYNTHETIC_TEST`` gives its generator
arguments; ``python -m box2mask.data.synthetic --out datasets/synthetic_test --num-train 0
--num-val 500 --seed 1``).

Development sets, each a box-only ``<name>_train`` (its masks in ``train_masks.json``, for
mask-supervised references) and a ``<name>_val`` with exact masks:

* ``microscopy_train`` / ``microscopy_val`` (200 / 100 images, 1 class): fluorescence-style
  nuclei with a dim halo, :mod:`box2mask.data.devsets.microscopy`;
* ``textured_train`` / ``textured_val`` (200 / 100 images, 4 classes): crescents, L-shapes,
  rings and stars filled with stripes, speckle or photo texture on gradient or photo
  backgrounds, :mod:`box2mask.data.devsets.textured`;
* ``copypaste_train`` / ``copypaste_val`` (200 / 100 images, 5 classes): real object cut-outs
  pasted on real backgrounds, :mod:`box2mask.data.devsets.copypaste`;
* ``real_photos_val`` (1 photo, 19 instances, evaluation only): the VOC photo the cut-outs come
  from with its real masks, in the copy-paste classes, :mod:`box2mask.data.devsets.real_photos`.

``generate_builtin(name)`` writes a missing set with the arguments in ``GENERATORS``;
``train_net.py`` calls ``generate_missing_builtins`` on its train and test sets, so a built-in
set is written on first use. Each generator's CLI does the same by hand (``python -m
box2mask.data.devsets.microscopy --out datasets/microscopy``).
"""
import importlib
import os
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from .datasets import register_box_coco

__all__ = [
    "GENERATORS",
    "SYNTHETIC_TEST",
    "builtin_root",
    "generate_builtin",
    "generate_missing_builtins",
    "register_all_box2mask",
]

_SPLITS = {
    "synthetic_train": ("synthetic/train.json", "synthetic/train"),
    "synthetic_val": ("synthetic/val.json", "synthetic/val"),
    "synthetic_test": ("synthetic_test/val.json", "synthetic_test/val"),
    "microscopy_train": ("microscopy/train.json", "microscopy/train"),
    "microscopy_val": ("microscopy/val.json", "microscopy/val"),
    "textured_train": ("textured/train.json", "textured/train"),
    "textured_val": ("textured/val.json", "textured/val"),
    "copypaste_train": ("copypaste/train.json", "copypaste/train"),
    "copypaste_val": ("copypaste/val.json", "copypaste/val"),
    "real_photos_val": ("real_photos/val.json", "real_photos/val"),
}
# generate_synthetic_dataset arguments of ``synthetic_test`` (its images are the "val" split).
SYNTHETIC_TEST = {"num_train": 0, "num_val": 500, "seed": 1}
# directory under the data root -> ("module:function" of the generator(out_dir, **kwargs) ->
# paths, kwargs). Imported on use: a generator's module run as a CLI (python -m) is then not
# already imported by the package.
GENERATORS: Dict[str, Tuple[str, dict]] = {
    "synthetic": ("box2mask.data.synthetic:generate_synthetic_dataset", {}),
    "synthetic_test": ("box2mask.data.synthetic:generate_synthetic_dataset", SYNTHETIC_TEST),
    "microscopy": ("box2mask.data.devsets.microscopy:generate_microscopy_dataset", {}),
    "textured": ("box2mask.data.devsets.textured:generate_textured_dataset", {}),
    "copypaste": ("box2mask.data.devsets.copypaste:generate_copypaste_dataset", {}),
    "real_photos": ("box2mask.data.devsets.real_photos:generate_real_photos_dataset", {}),
}


def builtin_root() -> Path:
    """The data root: ``$DETECTRON2_DATASETS``, default ``./datasets``."""
    return Path(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))


def generate_builtin(name: str, root=None) -> Dict[str, str]:
    """Write the built-in set ``name`` (e.g. "microscopy_val") under ``root`` if it is missing.

    Args:
        name: a registered built-in set.
        root: the data root; default ``builtin_root()``.

    Returns:
        The generator's paths as str ("train_json", "val_json", "val_images", ...; see each
        generator) of the directory holding ``name``.
    """
    if name not in _SPLITS:
        raise KeyError(f"{name!r} is not a built-in set; choose from {sorted(_SPLITS)}")
    directory = Path(_SPLITS[name][0]).parts[0]
    target, kwargs = GENERATORS[directory]
    module, function = target.split(":")
    generator = getattr(importlib.import_module(module), function)
    return generator(Path(root or builtin_root()) / directory, **kwargs)


def generate_missing_builtins(names: Iterable[str], root=None) -> List[str]:
    """Write each built-in set among ``names`` that is not completely written under ``root``.

    Names that are not built-in (a user's own sets) are left alone; whether a built-in set is
    complete is its generator's cache check (its ``meta.json``), so a set already written is
    never rewritten and an interrupted or outdated one is written again.

    Args:
        names: data set names, e.g. ``cfg.DATASETS.TRAIN + cfg.DATASETS.TEST``.
        root: the data root; default ``builtin_root()``.

    Returns:
        The names that were written.
    """
    root = Path(root or builtin_root())
    written = []
    for name in (n for n in names if n in _SPLITS):
        # Every generator writes meta.json last, and only when it writes the set.
        marker = root / Path(_SPLITS[name][0]).parts[0] / "meta.json"
        before = marker.stat().st_mtime_ns if marker.is_file() else None
        generate_builtin(name, root)
        if marker.stat().st_mtime_ns != before:
            written.append(name)
    return written


def register_all_box2mask(root: str) -> None:
    for name, (json_file, image_root) in _SPLITS.items():
        register_box_coco(name, os.path.join(root, json_file), os.path.join(root, image_root))


register_all_box2mask(str(builtin_root()))
