"""Mask AP of box-only baselines: a mask made from each ground-truth box, no network.

For every ground-truth instance of a COCO json with masks, its box is turned into a mask by a
method ``mask_fn(image, boxes) -> masks``, scored 1.0 with the ground-truth class, and the
predictions are evaluated with pycocotools' COCOeval (segm). "box-fill" (the mask is the box)
is the floor any box-supervised model must beat; "levelset-evolution" calls the level-set op
``box2mask.ops.evolve_levelset`` when it is built.

CLI (the last printed line is the summary)::

    python -m box2mask.evaluation.box_baselines --json DIR/val.json --images DIR/val \
        --method box-fill
"""

import argparse
import contextlib
import io
import math
from pathlib import Path
from typing import Callable, Dict

import cv2
import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from box2mask import ops

__all__ = [
    "MASK_METHODS",
    "box_fill_masks",
    "evaluate_box_baseline",
    "levelset_evolution_masks",
    "register_mask_method",
]

MaskFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# name -> mask_fn(image [H, W, 3] uint8 RGB, boxes [N, 4] float32 xyxy pixels) -> [N, H, W] bool.
MASK_METHODS: Dict[str, MaskFn] = {}


def register_mask_method(name: str):
    """Decorator adding ``mask_fn`` to ``MASK_METHODS`` under ``name`` (the CLI's --method)."""

    def register(fn: MaskFn) -> MaskFn:
        if name in MASK_METHODS:
            raise KeyError(f"mask method {name!r} is already registered")
        MASK_METHODS[name] = fn
        return fn

    return register


@register_mask_method("box-fill")
def box_fill_masks(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The mask of each box is the box: pixels whose centre lies inside it.

    Args:
        image: [H, W, 3] uint8 RGB (only its size is used).
        boxes: [N, 4] float (x0, y0, x1, y1) in pixels, pixel (i, j) spanning [j, j+1) x [i, i+1);
            a COCO box [x, y, w, h] gives (x, y, x + w, y + h).

    Returns:
        [N, H, W] bool.
    """
    h, w = image.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centres_x = np.arange(w) + 0.5
    centres_y = np.arange(h) + 0.5
    in_x = (centres_x[None] >= boxes[:, 0:1]) & (centres_x[None] < boxes[:, 2:3])  # [N, W]
    in_y = (centres_y[None] >= boxes[:, 1:2]) & (centres_y[None] < boxes[:, 3:4])  # [N, H]
    return in_y[:, :, None] & in_x[:, None, :]


@register_mask_method("levelset-evolution")
def levelset_evolution_masks(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Masks from a free-form level-set evolution inside each box (no network).

    Calls ``box2mask.ops.evolve_levelset(image [3, H, W] float32 RGB in [0, 255],
    boxes [N, 4] float32 xyxy) -> [N, H, W] bool``.

    Args:
        image: [H, W, 3] uint8 RGB.
        boxes: [N, 4] float xyxy pixels.

    Returns:
        [N, H, W] bool.
    """
    evolve = getattr(ops, "evolve_levelset", None)
    if evolve is None:
        raise RuntimeError(
            "the 'levelset-evolution' baseline needs box2mask.ops.evolve_levelset, which this "
            "version of box2mask does not provide; use --method box-fill"
        )
    image_t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    boxes_t = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    return evolve(image_t, boxes_t).cpu().numpy().astype(bool)


def _quietly(fn, *args, verbose=False):
    if verbose:
        return fn(*args)
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def evaluate_box_baseline(json_file, image_root, mask_fn: MaskFn, verbose: bool = False) -> dict:
    """Mask AP of the masks that ``mask_fn`` builds from the ground-truth boxes.

    Every non-crowd ground-truth instance yields one prediction: its box through ``mask_fn``,
    score 1.0, the ground-truth class. Detection is thus perfect; only mask quality counts.

    Args:
        json_file: COCO instances json whose annotations have ``segmentation``.
        image_root: directory holding the images' ``file_name``.
        mask_fn: ``mask_fn(image [H, W, 3] uint8 RGB, boxes [N, 4] float32 xyxy pixels)``
            returning [N, H, W] bool masks (see ``MASK_METHODS``).
        verbose: print pycocotools' messages and summary table.

    Returns:
        {"AP", "AP50", "AP75", "APs", "APm", "APl", "mIoU"} in percent; an area range without
        ground truth gives NaN. mIoU is the mean IoU of each predicted mask with its own
        ground-truth mask.
    """
    gt = _quietly(COCO, str(json_file), verbose=verbose)
    image_root = Path(image_root)
    results, ious = [], []
    for image_id in sorted(gt.getImgIds()):
        info = gt.loadImgs(image_id)[0]
        anns = [a for a in gt.loadAnns(gt.getAnnIds(imgIds=image_id)) if not a.get("iscrowd", 0)]
        if not anns:
            continue
        missing = [a["id"] for a in anns if "segmentation" not in a]
        if missing:
            raise ValueError(
                f"{json_file}: annotations {missing[:5]} have no 'segmentation'; mask AP needs a "
                "json with masks (e.g. the val split, not the box-only train split)"
            )
        path = image_root / info["file_name"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {path} (check --images / image_root)")
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        if (h, w) != (info["height"], info["width"]):
            raise ValueError(
                f"{path} is {w}x{h} but the json says {info['width']}x{info['height']}"
            )
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float32)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        masks = np.asarray(mask_fn(image, boxes))
        if masks.shape != (len(anns), h, w):
            raise ValueError(
                f"mask_fn returned shape {masks.shape} for {len(anns)} boxes on a {h}x{w} "
                f"image; expected {(len(anns), h, w)}"
            )
        masks = masks.astype(bool)
        for ann, mask in zip(anns, masks):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle["counts"] = rle["counts"].decode()
            results.append(
                {
                    "image_id": image_id,
                    "category_id": ann["category_id"],
                    "segmentation": rle,
                    "score": 1.0,
                }
            )
            target = gt.annToMask(ann).astype(bool)
            union = np.logical_or(mask, target).sum()
            ious.append(np.logical_and(mask, target).sum() / union if union else 1.0)
    if not results:
        raise ValueError(f"{json_file} has no non-crowd annotation to evaluate")

    dt = _quietly(gt.loadRes, results, verbose=verbose)
    coco_eval = COCOeval(gt, dt, "segm")
    _quietly(coco_eval.evaluate, verbose=verbose)
    _quietly(coco_eval.accumulate, verbose=verbose)
    _quietly(coco_eval.summarize, verbose=verbose)
    stats = [100.0 * s if s >= 0 else math.nan for s in coco_eval.stats[:6]]
    keys = ("AP", "AP50", "AP75", "APs", "APm", "APl")
    out = {k: float(v) for k, v in zip(keys, stats)}
    out["mIoU"] = 100.0 * float(np.mean(ious))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Mask AP of a box-only baseline.")
    parser.add_argument("--json", required=True, help="COCO instances json with masks")
    parser.add_argument("--images", required=True, help="directory of the json's images")
    parser.add_argument("--method", default="box-fill", choices=sorted(MASK_METHODS))
    parser.add_argument("--verbose", action="store_true", help="print COCOeval's table")
    args = parser.parse_args(argv)
    res = evaluate_box_baseline(args.json, args.images, MASK_METHODS[args.method], args.verbose)
    print(" ".join(f"{k} {v:.1f}" for k, v in res.items()))
    print(
        f"{args.method} mask AP {res['AP']:.1f} AP50 {res['AP50']:.1f} AP75 {res['AP75']:.1f} "
        f"mIoU {res['mIoU']:.1f}"
    )
    return res


if __name__ == "__main__":
    main()
