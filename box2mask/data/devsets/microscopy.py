"""A fluorescence-microscopy-style instance set: cell nuclei, one class, grayscale, exact masks.

Each image models a widefield fluorescence image of stained nuclei (DAPI-like):

    * 6-28 nuclei (smooth non-convex ellipses, radius 6-22 px at 320 px, textured chromatin
      and a few bright nucleoli), per-nucleus brightness 0.35-1; a third of the images are
      crowded, with nuclei in 1-3 clusters touching their neighbours;
    * a dim halo around every nucleus: a band of the nucleus' width x 0.3-0.6 outside it at
      12-30 % of its brightness (perinuclear signal), plus out-of-focus glow (the image blurred
      wide at 10-25 %); soft edges from the point-spread function (Gaussian, sigma 0.8-1.8 px);
    * dark background with uneven illumination (a smooth multiplicative field, 0.6-1.4);
    * shot noise (Poisson, 25-120 photons at full brightness) and read noise; 8-bit grayscale
      written as 3 identical channels.

The mask of a nucleus is its in-focus shape (the label map before blurring), minus the parts
of nuclei drawn on top of it; the halo is not part of it. This is the setting where a two-phase
image energy can take the halo and the box corners as one phase and the nucleus as the other,
with nothing but the box to say which is the object. Annotation rules and the json layout are
those of :mod:`box2mask.data.synthetic` (visible >= 30 % of the shape, visible box >= 8 px).

Image ``k`` of a split is drawn from ``box2mask.data.synthetic.sample_rng(seed, split, k)``.

CLI::

    python -m box2mask.data.devsets.microscopy --out DIR [--num-train 200 --num-val 100]
"""
import functools
import math
from typing import Dict

import cv2
import numpy as np

from ..synthetic import SyntheticSample, annotated_sample, fill_polygon
from .writer import generate_train_val, train_val_cli

__all__ = ["CATEGORIES", "generate_microscopy_dataset", "render_microscopy"]

CATEGORIES = ({"id": 1, "name": "nucleus", "supercategory": "cell"},)
GENERATOR_VERSION = 1
_DESCRIPTION = "box2mask microscopy-style nuclei"
_REFERENCE_SIZE = 320


def _nucleus_polygon(rng, radius, n=48):
    """Vertices [n, 2] (x, y) of a smooth non-convex ellipse of mean radius ``radius`` px."""
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3):
        r += rng.uniform(0.0, 0.08) * np.cos(k * theta + rng.uniform(0, 6.3))
    aspect = rng.uniform(1.0, 1.6)
    pts = np.stack([r * np.cos(theta) * aspect, r * np.sin(theta)], axis=1) / math.sqrt(aspect)
    angle = rng.uniform(0.0, np.pi)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return radius * pts @ rot.T


def _smooth_field(rng, h, w, cell):
    """Zero-mean smooth noise [h, w] float32 of unit-order amplitude, features ~``cell`` px."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = rng.normal(size=(gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _centres(rng, s, count, radius):
    """Up to ``count`` nucleus centres [K, 2] (x, y), at least ``1.7 radius`` apart (touching,
    little overlap): in 1-3 clusters in a third of the images, else spread."""
    margin = radius * 1.7 + 2
    clusters = None
    if rng.random() < 1 / 3:
        clusters = rng.uniform(margin, s - margin, (int(rng.integers(1, 4)), 2))
    kept = []
    for _ in range(20 * count):
        if clusters is None:
            pt = rng.uniform(margin, s - margin, 2)
        else:
            pt = clusters[rng.integers(len(clusters))] + rng.normal(0.0, 2.5 * radius, 2)
            pt = np.clip(pt, margin, s - margin)
        if all(np.hypot(*(pt - q)) >= 1.7 * radius for q in kept):
            kept.append(pt)
            if len(kept) == count:
                break
    return np.array(kept)


def render_microscopy(rng: np.random.Generator, image_size: int = 320) -> SyntheticSample:
    """Draw one microscopy-style image with its label map and instances.

    Args:
        rng: the image's generator, e.g. ``sample_rng(seed, split, index)``.
        image_size: side S of the square image, pixels (>= 64).

    Returns:
        A ``SyntheticSample``: [S, S, 3] uint8 image (3 equal channels), [S, S] int32 labels.
    """
    s = int(image_size)
    scale = s / _REFERENCE_SIZE
    mean_radius = rng.uniform(8.0, 15.0) * scale
    count = int(rng.integers(6, 29))
    centres = _centres(rng, s, count, mean_radius)

    labels = np.zeros((s, s), np.int32)
    signal = np.zeros((s, s), np.float32)  # in-focus nuclei, brightness in [0, 1]
    halo = np.zeros((s, s), np.float32)
    drawn = []
    for label, (cx, cy) in enumerate(centres, start=1):
        radius = float(np.clip(mean_radius * rng.uniform(0.7, 1.35), 6.0 * scale, 22.0 * scale))
        pts = _nucleus_polygon(rng, radius) + np.array([cx, cy])
        layer = np.zeros((s, s), np.uint8)
        fill_polygon(layer, pts)
        mask = layer.astype(bool)
        brightness = rng.uniform(0.35, 1.0)
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        chromatin = 1.0 + 0.18 * _smooth_field(rng, y1 - y0, x1 - x0, rng.uniform(2.0, 5.0))
        for _ in range(int(rng.integers(0, 4))):  # nucleoli
            ny, nx = ys[rng.integers(len(ys))] - y0, xs[rng.integers(len(xs))] - x0
            cv2.circle(chromatin, (int(nx), int(ny)), max(1, int(radius * 0.15)), 1.35, -1)
        patch = signal[y0:y1, x0:x1]
        local = mask[y0:y1, x0:x1]
        patch[local] = brightness * chromatin[local]
        width = max(2, int(round(radius * rng.uniform(0.3, 0.6))))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
        band = cv2.dilate(layer, kernel).astype(bool) & ~mask
        halo[band] = np.maximum(halo[band], brightness * rng.uniform(0.12, 0.3))
        labels[mask] = label
        drawn.append((1, label, (x0, y0, x1, y1), int(mask.sum())))

    halo[labels > 0] = 0.0
    halo = cv2.GaussianBlur(halo, (0, 0), max(1.0, 2.0 * scale))
    image = signal + halo
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 1.8) * scale)
    image += rng.uniform(0.1, 0.25) * cv2.GaussianBlur(image, (0, 0), 3.0 * mean_radius)
    image += rng.uniform(0.02, 0.08)  # background
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ramp = (xs * math.cos(angle) + ys * math.sin(angle)) * rng.uniform(0.0, 0.5)
    vignette = -rng.uniform(0.0, 0.6) * (xs**2 + ys**2)
    illumination = 1.0 + ramp + vignette + 0.08 * _smooth_field(rng, s, s, s / 3)
    image *= np.clip(illumination, 0.6, 1.4)
    photons = rng.uniform(25.0, 120.0)
    counts = rng.poisson(np.maximum(image, 0.0) * photons).astype(np.float32)
    grey = counts * (215.0 / photons) + rng.normal(0.0, 1.5, (s, s)).astype(np.float32)
    grey = np.clip(np.round(grey), 0, 255).astype(np.uint8)
    return annotated_sample(np.repeat(grey[..., None], 3, axis=2), labels, drawn)


def generate_microscopy_dataset(
    out_dir, num_train: int = 200, num_val: int = 100, image_size: int = 320, seed: int = 0
) -> Dict[str, str]:
    """Write the microscopy-style set, or find it written: see ``writer.generate_train_val``."""
    args = (CATEGORIES, _DESCRIPTION, GENERATOR_VERSION, num_train, num_val, image_size, seed)
    return generate_train_val(out_dir, "microscopy", render_microscopy, *args)


main = functools.partial(train_val_cli, generate_microscopy_dataset, __doc__)


if __name__ == "__main__":
    main()
