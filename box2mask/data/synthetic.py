"""A deterministic synthetic instance-segmentation data set with exact masks, in COCO format.

Each image shows 2-6 textured shapes of four families, one class each, on a textured
background, with partial (sometimes low) colour contrast, blur, Gaussian noise, unannotated
distractors and mutual occlusion. The masks are exact: every shape is rasterised as a binary
polygon and painted into a label map in drawing order, so an instance's mask is the set of
pixels it still owns after everything drawn later (instances and the distractors drawn on top).

Classes (``category_id``: name): 1 ``blob`` (smooth non-convex radial blob), 2 ``star``
(5-8 spikes), 3 ``ring`` (annulus, the hole shows what lies below), 4 ``polygon``
(rectilinear L, T, U or cross). Rings, stars and rotated polygons fill their box poorly,
which is what makes "mask = box" a weak baseline here.

Rules:
    * Shape size (longest side of the full, unoccluded shape) is log-uniform in
      ``instance_size_range(image_size)`` (16-200 px at 320 px, scaled with the image).
      Every shape lies fully inside the image.
    * An instance whose visible part is < 30 % of its full mask, or whose visible tight box
      is narrower or lower than 8 px, stays drawn but is not annotated (a distractor).
    * ``bbox`` is the tight box ``[x, y, w, h]`` of the visible mask (pixel units, COCO
      convention: ``w`` counts pixels). ``val.json`` has ``segmentation`` as COCO RLE with
      ``counts`` a str and ``area`` = visible mask pixels; ``train.json`` is box-only: no
      ``segmentation`` and ``area`` = ``w * h``.
    * Image ``k`` of a split is drawn from ``numpy.random.default_rng([seed, split, k])``:
      output is byte-identical for the same parameters, and any image can be re-rendered
      alone with :func:`render_sample`.

CLI::

    python -m box2mask.data.synthetic --out DIR [--num-train 200 --num-val 50 --size 320 --seed 0]
"""

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .generated_set import expected_paths, generate_cached

__all__ = [
    "CATEGORIES",
    "SyntheticInstance",
    "SyntheticSample",
    "annotated_sample",
    "check_set_size",
    "fill_polygon",
    "generate_synthetic_dataset",
    "instance_size_range",
    "noisy_uint8",
    "rasterise_shape",
    "render_sample",
    "sample_annotations",
    "sample_rng",
    "train_val_arguments",
]

CATEGORIES = (
    {"id": 1, "name": "blob", "supercategory": "shape"},
    {"id": 2, "name": "star", "supercategory": "shape"},
    {"id": 3, "name": "ring", "supercategory": "shape"},
    {"id": 4, "name": "polygon", "supercategory": "shape"},
)
# Bump when the drawing changes, so that an existing directory is regenerated.
GENERATOR_VERSION = 1
# the paths of a written set (generated_set.expected_paths)
_PATH_KEYS = ("train_json", "train_images", "val_json", "val_images")
MIN_VISIBLE_FRACTION = 0.3  # of the full mask, else the instance is not annotated
MIN_VISIBLE_SIDE = 8  # pixels, of the visible tight box, else not annotated
_SPLITS = {"train": 0, "val": 1}
_REFERENCE_SIZE = 320  # image side at which shape sizes are 16-200 px
_SUBPIXEL_SHIFT = 4  # fractional bits of polygon vertices given to cv2.fillPoly


@dataclass
class SyntheticInstance:
    """One drawn shape.

    Attributes:
        category_id: 1-4, see ``CATEGORIES``.
        label: its value in ``SyntheticSample.labels`` (1-based drawing order).
        full_box: tight box (x0, y0, x1, y1) of the full shape, exclusive ends, pixels.
        full_area: pixels of the full shape.
        visible_area: pixels it owns in the label map.
        annotated: whether it is written to the json (else it is a drawn distractor).
    """

    category_id: int
    label: int
    full_box: Tuple[int, int, int, int]
    full_area: int
    visible_area: int
    annotated: bool


@dataclass
class SyntheticSample:
    """One rendered image.

    Attributes:
        image: [H, W, 3] uint8 RGB.
        labels: [H, W] int32; 0 = background or distractor, k = instance with ``label`` k.
        instances: in drawing order (bottom first).
    """

    image: np.ndarray
    labels: np.ndarray
    instances: List[SyntheticInstance]


def instance_size_range(image_size: int) -> Tuple[int, int]:
    """(min, max) longest side in pixels of a full shape: 16-200 at 320, scaled, min >= 8."""
    scale = image_size / _REFERENCE_SIZE
    lo = max(8, int(round(16 * scale)))
    hi = max(lo, min(image_size - 2, int(round(200 * scale))))
    return lo, hi


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random generator of image ``index`` (0-based) of ``split`` ("train" or "val")."""
    return np.random.default_rng([seed, _SPLITS[split], index])


def check_set_size(num_train: int, num_val: int, image_size: int):
    """Raise ValueError unless both image counts are >= 0 and ``image_size`` >= 64 pixels."""
    if image_size < 64:
        raise ValueError(f"image_size must be >= 64 pixels, got {image_size}")
    if num_train < 0 or num_val < 0:
        raise ValueError(f"image counts must be >= 0, got {num_train} and {num_val}")


def train_val_arguments(doc: str, num_val: int) -> argparse.ArgumentParser:
    """CLI of a generator: --out, --num-train (200), --num-val (``num_val``), --size, --seed."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--num-train", type=int, default=200)
    parser.add_argument("--num-val", type=int, default=num_val)
    parser.add_argument("--size", type=int, default=320, help="image side, pixels")
    parser.add_argument("--seed", type=int, default=0)
    return parser


# ----------------------------------------------------------------------------- shapes
# Each returns polygon vertices [K, 2] (x, y) of a shape around the origin, radius ~1;
# a ring returns (outer, inner).


def _radial_polygon(rng, num_harmonics, amplitude, n=72):
    theta = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 2 + num_harmonics):
        r += rng.uniform(0.3, 1.0) * amplitude / (k - 1) * np.cos(k * theta + rng.uniform(0, 6.3))
    r = np.maximum(r, 0.25)
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def _blob(rng):
    # Strong low harmonics make it non-convex (lobes, waists), not an ellipse.
    pts = _radial_polygon(rng, num_harmonics=3, amplitude=rng.uniform(0.3, 0.55))
    return pts * np.array([rng.uniform(1.0, 1.8), 1.0])


def _star(rng):
    n = int(rng.integers(5, 9))
    theta = np.arange(2 * n) * np.pi / n + rng.uniform(-0.12, 0.12, 2 * n) * np.pi / n
    r = np.where(np.arange(2 * n) % 2 == 0, 1.0, rng.uniform(0.35, 0.55))
    r = r * rng.uniform(0.9, 1.1, 2 * n)
    pts = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return pts * np.array([rng.uniform(1.0, 1.3), 1.0])


def _ring(rng, size):
    outer = _radial_polygon(rng, num_harmonics=2, amplitude=rng.uniform(0.0, 0.12))
    outer = outer * np.array([rng.uniform(1.0, 1.5), 1.0])
    # Keep the band at least ~2.5 px wide on small rings.
    rho = min(rng.uniform(0.45, 0.7), 1.0 - 5.0 / size)
    inner = outer * rho + rng.uniform(-0.08, 0.08, 2) * (1.0 - rho)
    return outer, inner


_POLYGON_TEMPLATES = {
    "L": lambda t: [(0, 0), (t, 0), (t, 1 - t), (1, 1 - t), (1, 1), (0, 1)],
    "T": lambda t: [
        (0, 0), (1, 0), (1, t), ((1 + t) / 2, t), ((1 + t) / 2, 1), ((1 - t) / 2, 1),
        ((1 - t) / 2, t), (0, t),
    ],  # fmt: skip
    "U": lambda t: [(0, 0), (t, 0), (t, 1 - t), (1 - t, 1 - t), (1 - t, 0), (1, 0), (1, 1), (0, 1)],
    "cross": lambda t: [
        ((1 - t) / 2, 0), ((1 + t) / 2, 0), ((1 + t) / 2, (1 - t) / 2), (1, (1 - t) / 2),
        (1, (1 + t) / 2), ((1 + t) / 2, (1 + t) / 2), ((1 + t) / 2, 1), ((1 - t) / 2, 1),
        ((1 - t) / 2, (1 + t) / 2), (0, (1 + t) / 2), (0, (1 - t) / 2), ((1 - t) / 2, (1 - t) / 2),
    ],  # fmt: skip
}


def _polygon(rng):
    name = sorted(_POLYGON_TEMPLATES)[int(rng.integers(len(_POLYGON_TEMPLATES)))]
    pts = np.array(_POLYGON_TEMPLATES[name](rng.uniform(0.3, 0.45)), dtype=np.float64) - 0.5
    return pts * np.array([rng.uniform(1.0, 1.5), 1.0])


def fill_polygon(canvas: np.ndarray, pts: np.ndarray):
    """Set to 1 the pixels of ``canvas`` [H, W] uint8 inside the polygon ``pts`` [K, 2] (x, y)
    in pixels, vertices rounded to 1/16 px."""
    fixed = np.round(pts * (1 << _SUBPIXEL_SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [fixed], 1, lineType=cv2.LINE_8, shift=_SUBPIXEL_SHIFT)


def rasterise_shape(outer: np.ndarray, hole, angle: float, size: int) -> np.ndarray:
    """Rasterise polygon ``outer`` [K, 2] minus ``hole`` [L, 2] (or None), rotated by ``angle``
    (radians) and scaled so that the longest side of ``outer`` is ``size`` pixels.

    Returns:
        [h, w] bool mask, max(h, w) == size, ``outer`` touching all four sides.
    """
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    outer = outer @ rot.T
    lo, hi = outer.min(axis=0), outer.max(axis=0)
    scale = (size - 1) / float((hi - lo).max())
    extent = np.floor((hi - lo) * scale + 1e-6).astype(int) + 1  # (w, h), max == size

    def fill(pts):
        canvas = np.zeros((extent[1], extent[0]), np.uint8)
        fill_polygon(canvas, (pts - lo) * scale)
        return canvas.astype(bool)

    mask = fill(outer)
    if hole is not None:
        mask &= ~fill(hole @ rot.T)
    return mask


def _shape_mask(rng, category_id, size):
    """Rasterise a random shape of ``category_id`` whose longest side is ``size`` pixels.

    Returns:
        [h, w] bool mask of the full shape, max(h, w) == size, touching all four sides.
    """
    inner = None
    if category_id == 1:
        outer = _blob(rng)
    elif category_id == 2:
        outer = _star(rng)
    elif category_id == 3:
        outer, inner = _ring(rng, size)
    else:
        outer = _polygon(rng)
    return rasterise_shape(outer, inner, rng.uniform(0.0, 2.0 * np.pi), size)


# ----------------------------------------------------------------------------- textures


def _unit_colour(rng):
    v = rng.normal(size=3) + 0.6 * rng.choice([-1.0, 1.0])  # partly a brightness change
    return v / (np.linalg.norm(v) + 1e-6)


def _texture(rng, h, w, amplitude):
    """A zero-mean texture [h, w, 3] float32: smooth noise, stripes or a linear gradient."""
    kind = rng.choice(["noise", "stripes", "gradient"])
    if kind == "noise":
        cell = rng.uniform(4.0, 24.0)
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.normal(size=(gh, gw, 3)).astype(np.float32)
        field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        mix = 0.5 * _unit_colour(rng)[None, None] + 0.5 * field  # luminance + colour noise
        return (amplitude * field * np.abs(mix)).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0.0, np.pi)
    coord = xs * math.cos(angle) + ys * math.sin(angle)
    if kind == "stripes":
        period = rng.uniform(4.0, 24.0)
        wave = np.sin(coord * (2.0 * np.pi / period) + rng.uniform(0.0, 6.3))
    else:
        span = max(float(np.ptp(coord)), 1.0)
        wave = 2.0 * (coord - coord.min()) / span - 1.0
    return (amplitude * wave[..., None] * _unit_colour(rng)[None, None]).astype(np.float32)


def _contrasting_colour(rng, reference, size):
    """A colour at a partial contrast from ``reference`` [3]: low (a quarter of the shapes of
    >= 48 px) or moderate; small shapes get at least 50 so that they stay findable."""
    if size < 48:
        magnitude = rng.uniform(50.0, 110.0)
    elif rng.random() < 0.25:
        magnitude = rng.uniform(18.0, 35.0)
    else:
        magnitude = rng.uniform(35.0, 110.0)
    direction = _unit_colour(rng)
    up, down = reference + magnitude * direction, reference - magnitude * direction
    # Take the sign that stays inside [0, 255] best, so clipping does not erase the contrast.
    room_up = np.clip(up, 0, 255) - reference
    room_down = np.clip(down, 0, 255) - reference
    return np.clip(up if np.linalg.norm(room_up) >= np.linalg.norm(room_down) else down, 0, 255)


# ----------------------------------------------------------------------------- drawing


def noisy_uint8(rng, canvas: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``canvas`` [H, W, C] float32 plus Gaussian noise of std uniform in [lo, hi], rounded and
    clipped to uint8."""
    noisy = canvas + rng.uniform(lo, hi) * rng.standard_normal(canvas.shape, dtype=np.float32)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def annotated_sample(image: np.ndarray, labels: np.ndarray, drawn) -> SyntheticSample:
    """The sample of ``image`` with the instances of ``drawn``, annotated or not by the rules of
    this module.

    Args:
        image: [H, W, 3] uint8 RGB.
        labels: [H, W] int32 label map after all drawing.
        drawn: (category_id, label, full_box (x0, y0, x1, y1), full_area) in drawing order.
    """
    visible = np.bincount(labels.ravel(), minlength=max((d[1] for d in drawn), default=0) + 1)
    instances = []
    for category_id, label, box, full_area in drawn:
        annotated = visible[label] >= MIN_VISIBLE_FRACTION * full_area
        if annotated:
            ys, xs = np.nonzero(labels[box[1] : box[3], box[0] : box[2]] == label)
            annotated = min(np.ptp(xs) + 1, np.ptp(ys) + 1) >= MIN_VISIBLE_SIDE
        instances.append(
            SyntheticInstance(
                category_id, label, box, full_area, int(visible[label]), bool(annotated)
            )
        )
    return SyntheticSample(image, labels, instances)


def _draw_distractors(rng, canvas, labels, count, small):
    """Paint unannotated lines, dots and squares; ``labels`` (if given) is cleared under them."""
    s = canvas.shape[0]
    for _ in range(count):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        layer = np.zeros(canvas.shape[:2], np.uint8)
        kind = rng.integers(3)
        x, y = (int(v) for v in rng.integers(0, s, 2))
        if kind == 0:
            length = rng.uniform(8, 30) if small else rng.uniform(0.06, 0.5) * s
            angle = rng.uniform(0, np.pi)
            end = (int(x + length * math.cos(angle)), int(y + length * math.sin(angle)))
            cv2.line(layer, (x, y), end, 1, int(rng.integers(1, 3 if small else 4)))
        elif kind == 1:
            radius = int(rng.integers(2, 5 if small else 8))
            cv2.circle(layer, (x, y), radius, 1, -1)
        else:
            side = int(rng.integers(3, 7 if small else 11))
            cv2.rectangle(layer, (x, y), (x + side, y + side), 1, -1)
        on = layer.astype(bool)
        canvas[on] = colour
        if labels is not None:
            labels[on] = 0


def render_sample(rng: np.random.Generator, image_size: int = 320) -> SyntheticSample:
    """Draw one image with its label map and instances.

    Args:
        rng: the image's generator, e.g. ``sample_rng(seed, split, index)``.
        image_size: side S of the square image, pixels.

    Returns:
        A ``SyntheticSample`` with a [S, S, 3] uint8 RGB image and [S, S] int32 labels.
    """
    s = int(image_size)
    # Background: a base colour plus 1-3 textures.
    canvas = np.empty((s, s, 3), np.float32)
    canvas[:] = rng.uniform(40.0, 215.0, 3)
    for _ in range(int(rng.integers(1, 4))):
        canvas += _texture(rng, s, s, rng.uniform(8.0, 35.0))
    np.clip(canvas, 0, 255, out=canvas)
    _draw_distractors(rng, canvas, None, int(rng.integers(3, 11)), small=False)

    lo, hi = instance_size_range(s)
    count = int(rng.integers(2, 7))
    categories = rng.integers(1, len(CATEGORIES) + 1, count)
    sizes = np.round(np.exp(rng.uniform(math.log(lo), math.log(hi), count))).astype(int)
    # Mostly large below small (fewer fully hidden instances), with some disorder.
    order = np.argsort(-(np.log(sizes) + rng.normal(0.0, 0.5, count)), kind="stable")

    labels = np.zeros((s, s), np.int32)
    drawn = []
    for label, i in enumerate(order, start=1):
        mask = _shape_mask(rng, int(categories[i]), int(np.clip(sizes[i], lo, hi)))
        h, w = mask.shape
        y0, x0 = int(rng.integers(0, s - h + 1)), int(rng.integers(0, s - w + 1))
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        under = region[mask].mean(axis=0)
        colour = _contrasting_colour(rng, under, max(h, w))
        fg = np.empty((h, w, 3), np.float32)
        fg[:] = colour
        for _ in range(int(rng.integers(1, 3))):
            fg += _texture(rng, h, w, rng.uniform(5.0, 30.0))
        if rng.random() < 0.3:  # contrast fades towards one side of the object
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            a = rng.uniform(0.0, 2.0 * np.pi)
            t = xs * math.cos(a) + ys * math.sin(a)
            t = (t - t.min()) / max(float(np.ptp(t)), 1.0) * rng.uniform(0.5, 0.85)
            fg += t[..., None] * (under - colour)[None, None]
        region[mask] = fg[mask]
        labels[y0 : y0 + h, x0 : x0 + w][mask] = label
        drawn.append((int(categories[i]), label, (x0, y0, x0 + w, y0 + h), int(mask.sum())))

    if rng.random() < 0.5:  # a few small occluders on top
        _draw_distractors(rng, canvas, labels, int(rng.integers(1, 4)), small=True)
    if rng.random() < 0.5:  # soft edges
        canvas = cv2.GaussianBlur(canvas, (3, 3), rng.uniform(0.5, 1.0))
    return annotated_sample(noisy_uint8(rng, canvas, 3.0, 12.0), labels, drawn)


# ----------------------------------------------------------------------------- data set


def sample_annotations(
    sample: SyntheticSample, image_id: int, first_id: int, with_masks: bool
) -> List[dict]:
    """COCO annotations of the annotated instances of ``sample``.

    Args:
        sample: a rendered image with its [H, W] label map.
        image_id: the image's COCO id.
        first_id: id of the first annotation; the others follow in drawing order.
        with_masks: add ``segmentation`` (RLE, ``counts`` a str) and ``area`` = mask pixels;
            else box-only with ``area`` = ``w * h``.

    Returns:
        A list of COCO annotation dicts; ``bbox`` is the tight [x, y, w, h] of the visible mask.
    """
    anns = []
    for inst in sample.instances:
        if not inst.annotated:
            continue
        mask = sample.labels == inst.label
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        x, y, w, h = (int(round(v)) for v in mask_utils.toBbox(rle))
        ann = {
            "id": first_id + len(anns),
            "image_id": image_id,
            "category_id": inst.category_id,
            "bbox": [x, y, w, h],
            "area": int(mask.sum()) if with_masks else w * h,
            "iscrowd": 0,
        }
        if with_masks:
            ann["segmentation"] = {"size": list(rle["size"]), "counts": rle["counts"].decode()}
        anns.append(ann)
    return anns


def _write_split(out_dir, split, num_images, image_size, seed, with_masks):
    image_dir = out_dir / split
    image_dir.mkdir(parents=True, exist_ok=True)
    for stale in image_dir.glob("[0-9]*.png"):
        stale.unlink()
    images, annotations = [], []
    for index in range(num_images):
        sample = render_sample(sample_rng(seed, split, index), image_size)
        file_name = f"{index:06d}.png"
        # Fixed PNG settings: the same array gives the same bytes.
        ok = cv2.imwrite(
            str(image_dir / file_name),
            cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_PNG_COMPRESSION, 1],
        )
        if not ok:
            raise OSError(f"could not write {image_dir / file_name}")
        image_id = index + 1
        images.append(
            {"id": image_id, "file_name": file_name, "height": image_size, "width": image_size}
        )
        annotations += sample_annotations(sample, image_id, len(annotations) + 1, with_masks)
    coco = {
        "info": {
            "description": f"box2mask synthetic shapes, {split} split"
            + ("" if with_masks else " (box-only)"),
            "version": str(GENERATOR_VERSION),
        },
        "licenses": [],
        "categories": [dict(c) for c in CATEGORIES],
        "images": images,
        "annotations": annotations,
    }
    json_file = out_dir / f"{split}.json"
    json_file.write_text(json.dumps(coco, separators=(",", ":")))
    return json_file, image_dir


def generate_synthetic_dataset(
    out_dir, num_train: int = 200, num_val: int = 50, image_size: int = 320, seed: int = 0
) -> Dict[str, str]:
    """Write the synthetic data set (or find it already written with the same parameters).

    Args:
        out_dir: directory to write into (created if missing).
        num_train: images of the box-only train split.
        num_val: images of the val split (with exact masks).
        image_size: side of the square RGB images, pixels (>= 64).
        seed: the data set's seed; same parameters give byte-identical files.

    Returns:
        Paths as str: "train_json", "train_images", "val_json", "val_images", "meta".
    """
    check_set_size(num_train, num_val, image_size)
    meta = {
        "generator": "synthetic",
        "generator_version": GENERATOR_VERSION,
        "num_train": int(num_train),
        "num_val": int(num_val),
        "image_size": int(image_size),
        "seed": int(seed),
    }

    def write(out: Path) -> Dict[str, str]:
        _write_split(out, "train", num_train, image_size, seed, with_masks=False)
        _write_split(out, "val", num_val, image_size, seed, with_masks=True)
        return expected_paths(out, _PATH_KEYS)

    return generate_cached(out_dir, meta, write, _PATH_KEYS)


def main(argv=None):
    args = train_val_arguments(__doc__, num_val=50).parse_args(argv)
    start = time.perf_counter()
    paths = generate_synthetic_dataset(args.out, args.num_train, args.num_val, args.size, args.seed)
    val = json.loads(Path(paths["val_json"]).read_text())
    train = json.loads(Path(paths["train_json"]).read_text())
    names = {c["id"]: c["name"] for c in CATEGORIES}
    for split, coco in (("train", train), ("val", val)):
        counts = np.bincount([a["category_id"] for a in coco["annotations"]], minlength=5)[1:]
        per_class = ", ".join(f"{names[i + 1]} {int(n)}" for i, n in enumerate(counts))
        num_images, num_anns = len(coco["images"]), len(coco["annotations"])
        print(f"{split}: {num_images} images, {num_anns} instances ({per_class})")
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
