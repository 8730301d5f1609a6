"""Writing rendered samples as a COCO instance set, regenerated only when its parameters change.

A split ``S`` is written as ``S/000000.png ...`` and ``S.json`` with exact masks; a box-only
split (a training split) gets ``S.json`` without ``segmentation`` (``area`` = box area) and
``S_masks.json`` with the masks of the same images, for mask-supervised reference runs.
``meta.json`` is written last and records the generator's parameters: a directory whose
``meta.json`` matches is complete and is not rewritten.
"""
import json
from pathlib import Path
from typing import Callable, Dict, Iterable, Sequence

import cv2
import numpy as np

from ..generated_set import generate_cached
from ..synthetic import (
    SyntheticSample,
    check_set_size,
    sample_annotations,
    sample_rng,
    train_val_arguments,
)

__all__ = ["describe", "generate_train_val", "train_val_cli", "write_split"]


def _coco(categories, images, annotations, description, version):
    return {
        "info": {"description": description, "version": str(version)},
        "licenses": [],
        "categories": [dict(c) for c in categories],
        "images": images,
        "annotations": annotations,
    }


def write_split(
    out_dir: Path,
    split: str,
    samples: Iterable[SyntheticSample],
    categories: Sequence[dict],
    description: str,
    version: int,
    box_only: bool,
) -> Dict[str, str]:
    """Write the images of ``samples`` and their COCO json(s) under ``out_dir``.

    Args:
        out_dir: the data set's directory.
        split: split name, e.g. "train" or "val".
        samples: rendered images (any size) with [H, W] int32 label maps.
        categories: the COCO ``categories`` list.
        description: ``info.description`` of the json(s).
        version: the generator's version, ``info.version``.
        box_only: write ``<split>.json`` box-only plus ``<split>_masks.json``; else only
            ``<split>.json`` with masks.

    Returns:
        Paths as str: "<split>_json", "<split>_images" and, if ``box_only``, "<split>_masks_json".
    """
    image_dir = Path(out_dir) / split
    image_dir.mkdir(parents=True, exist_ok=True)
    for stale in image_dir.glob("[0-9]*.png"):
        stale.unlink()
    images, boxes, masks = [], [], []
    for index, sample in enumerate(samples):
        file_name = f"{index:06d}.png"
        path = image_dir / file_name
        # Fixed PNG settings: the same array gives the same bytes.
        bgr = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"could not write {path}")
        height, width = sample.labels.shape
        images.append({"id": index + 1, "file_name": file_name, "height": height, "width": width})
        masks += sample_annotations(sample, index + 1, len(masks) + 1, with_masks=True)
        if box_only:
            boxes += sample_annotations(sample, index + 1, len(boxes) + 1, with_masks=False)
    paths = {f"{split}_images": image_dir, f"{split}_json": Path(out_dir) / f"{split}.json"}
    if box_only:
        paths[f"{split}_masks_json"] = Path(out_dir) / f"{split}_masks.json"
        coco = _coco(categories, images, boxes, f"{description}, {split} split (box-only)", version)
        paths[f"{split}_json"].write_text(json.dumps(coco, separators=(",", ":")))
        coco = _coco(categories, images, masks, f"{description}, {split} split", version)
        paths[f"{split}_masks_json"].write_text(json.dumps(coco, separators=(",", ":")))
    else:
        coco = _coco(categories, images, masks, f"{description}, {split} split", version)
        paths[f"{split}_json"].write_text(json.dumps(coco, separators=(",", ":")))
    return {k: str(v) for k, v in paths.items()}


def generate_train_val(
    out_dir,
    generator: str,
    render: Callable[[np.random.Generator, int], SyntheticSample],
    categories: Sequence[dict],
    description: str,
    version: int,
    num_train: int,
    num_val: int,
    image_size: int,
    seed: int,
) -> Dict[str, str]:
    """Write (or find already written) a box-only train split, also with masks, and a val split
    with masks; image ``k`` of a split is ``render(sample_rng(seed, split, k), image_size)``.

    Args:
        out_dir: directory to write into (created if missing).
        generator: the set's name in ``meta.json``.
        render: draws one sample: [S, S, 3] uint8 image, [S, S] int32 labels.
        categories, description, version: as in ``write_split``.
        num_train, num_val: images per split (>= 0).
        image_size: side S of the square images, pixels (>= 64).
        seed: the set's seed; the same parameters give byte-identical files.

    Returns:
        Paths as str: "train_json" (box-only), "train_masks_json", "train_images", "val_json",
        "val_images", "meta".
    """
    check_set_size(num_train, num_val, image_size)
    meta = {
        "generator": generator,
        "generator_version": version,
        "num_train": int(num_train),
        "num_val": int(num_val),
        "image_size": int(image_size),
        "seed": int(seed),
    }

    def write(out: Path) -> Dict[str, str]:
        paths = {}
        for split, num, box_only in (("train", num_train, True), ("val", num_val, False)):
            samples = (render(sample_rng(seed, split, k), image_size) for k in range(num))
            args = (categories, description, version, box_only)
            paths.update(write_split(out, split, samples, *args))
        return paths

    expected = ("train_json", "train_masks_json", "train_images", "val_json", "val_images")
    return generate_cached(out_dir, meta, write, expected)


def describe(paths: Dict[str, str]) -> str:
    """One line per json of ``paths``: images, instances and instances per class."""
    lines = []
    for key in sorted(k for k in paths if k.endswith("_json")):
        coco = json.loads(Path(paths[key]).read_text())
        counts = {c["id"]: 0 for c in coco["categories"]}
        for ann in coco["annotations"]:
            counts[ann["category_id"]] += 1
        names = {c["id"]: c["name"] for c in coco["categories"]}
        per_class = ", ".join(f"{names[i]} {n}" for i, n in counts.items())
        lines.append(
            f"{paths[key]}: {len(coco['images'])} images, "
            f"{len(coco['annotations'])} instances ({per_class})"
        )
    return "\n".join(lines)


def train_val_cli(generate: Callable[..., Dict[str, str]], doc: str, argv=None):
    """Run ``generate(out, num_train, num_val, size, seed)`` from the command line ``argv`` (see
    ``train_val_arguments``) and print what it wrote."""
    args = train_val_arguments(doc, num_val=100).parse_args(argv)
    print(describe(generate(args.out, args.num_train, args.num_val, args.size, args.seed)))
