"""Does the image level-set energy keep the ground truth's holes open?

    python -m tools.hole_energy [--dataset synthetic_test] [--category ring]
                                     [--stride 4] [--margin 2]

For every ground-truth instance with a hole (its filled-in mask minus the mask), evaluates the
image term of the box-supervised loss, ``box2mask.ops.region_levelset_energy``, twice: for the
mask and for its filled-in version, as the loss sees them — the image normalised by
``MODEL.BOX2MASK.LOSS.IMAGE_MEAN/STD`` and resized bilinearly by 1/``--stride`` (the mask
resolution), the masks area-resized, the annotated box on the loss's cell grid grown by
``--margin`` cells. Where the filled-in mask has the lower energy, the energy's minimum keeps
the hole filled; where it has the higher, a model that fills the hole does so against the
energy. Holes smaller than one cell at the mask resolution are left out. The last printed line is
``instances_with_holes <N> filled_lower <fraction> median_energy_ratio <E_filled / E_mask>``.
"""
import argparse
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from pycocotools import mask as mask_util


from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode

from box2mask import add_box2mask_config
from box2mask.data.image_io import read_image
from box2mask.losses.levelset import expand_boxes
from box2mask.losses.projection import boxes_to_mask_grid
from box2mask.ops import region_levelset_energy
from tools.hole_fill import dataset_classes, ground_truths, hole_of


def mask_and_filled_energy(image, masks, boxes, mean, std, stride: int = 4, margin: int = 0):
    """Image level-set energy of each mask and of its filled-in version.

    Args:
        image: [H, W, 3] uint8 RGB.
        masks: [K, H, W] bool ground-truth masks of the image.
        boxes: [K, 4] float (x0, y0, x1, y1) in image pixels.
        mean, std: per-channel RGB normalisation in 0–255 units.
        stride: image pixels per mask-resolution cell.
        margin: cells added around each box.

    Returns:
        [K, 2] float64: energies (per box cell) of the mask and of the filled-in mask.
    """
    height, width = image.shape[:2]
    h, w = max(1, height // stride), max(1, width // stride)
    mean, std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    x = (torch.from_numpy(image).permute(2, 0, 1).float() - mean) / std
    small = F.interpolate(x[None], size=(h, w), mode="bilinear", align_corners=False)
    probs = [
        cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        for mask in masks
        for m in (mask, mask | hole_of(mask))
    ]
    scale = torch.tensor([w / width, h / height] * 2, dtype=torch.float64)
    cells, _ = boxes_to_mask_grid(torch.as_tensor(boxes, dtype=torch.float64) * scale, h, w)
    cells = expand_boxes(cells, margin)
    energy = region_levelset_energy(
        torch.from_numpy(np.stack(probs)),
        small,
        cells.repeat_interleave(2, 0),
        torch.zeros(len(probs), dtype=torch.long),
    )
    return energy.double().view(-1, 2).numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic_test")
    parser.add_argument("--category", help="a class name of the data set; default: all")
    parser.add_argument("--stride", type=int, default=4, help="image pixels per mask cell")
    parser.add_argument("--margin", type=int, default=2, help="cells added around each box")
    args = parser.parse_args(argv)
    records = DatasetCatalog.get(args.dataset)
    classes = dataset_classes(args.dataset, args.category, "hole_energy")
    cfg = get_cfg()
    add_box2mask_config(cfg)
    mean, std = cfg.MODEL.BOX2MASK.LOSS.IMAGE_MEAN, cfg.MODEL.BOX2MASK.LOSS.IMAGE_STD
    energies = []
    for record in records:
        masks, boxes = [], []
        for rle, ann in ground_truths(record, classes, args.category):
            mask = mask_util.decode(rle).astype(bool)
            if hole_of(mask).sum() < args.stride**2:
                continue
            masks.append(mask)
            boxes.append(BoxMode.convert(ann["bbox"], ann["bbox_mode"], BoxMode.XYXY_ABS))
        if masks:
            image = read_image(record["file_name"], "RGB")
            masks = np.stack(masks)
            energies.append(
                mask_and_filled_energy(image, masks, boxes, mean, std, args.stride, args.margin)
            )
    if not energies:
        sys.exit(f"hole_energy: no ground-truth instance with a hole in {args.dataset}")
    e = np.concatenate(energies)
    lower = float(np.mean(e[:, 1] < e[:, 0]))
    ratio = float(np.median(e[:, 1] / np.maximum(e[:, 0], 1e-12)))
    print(f"instances_with_holes {len(e)} filled_lower {lower:.3f} median_energy_ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
