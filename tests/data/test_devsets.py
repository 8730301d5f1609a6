import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog
from pycocotools import mask as mask_utils

from box2mask.data.builtin import GENERATORS, generate_builtin, generate_missing_builtins
from box2mask.data.devsets import copypaste, real_photos, textured
from box2mask.data.devsets.microscopy import generate_microscopy_dataset, render_microscopy
from box2mask.data.synthetic import sample_rng

SMALL = dict(num_train=2, num_val=3, image_size=160, seed=5)


@pytest.fixture(scope="module")
def microscopy(tmp_path_factory):
    return generate_microscopy_dataset(tmp_path_factory.mktemp("microscopy"), **SMALL)


def _files(root):
    root = Path(root)
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _check_exact_masks(paths):
    """Val masks: tight boxes equal the json's, areas equal, masks of an image disjoint;
    the box-only train json has the boxes of train_masks.json and no segmentation."""
    val = json.loads(Path(paths["val_json"]).read_text())
    sizes = {i["id"]: (i["height"], i["width"]) for i in val["images"]}
    owned = {}
    assert val["annotations"]
    for ann in val["annotations"]:
        mask = mask_utils.decode(ann["segmentation"]).astype(bool)
        assert mask.shape == sizes[ann["image_id"]]
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann["bbox"]
        assert (xs.min(), ys.min(), xs.max() + 1 - x, ys.max() + 1 - y) == (x, y, w, h)
        assert ann["area"] == mask.sum()
        seen = owned.setdefault(ann["image_id"], np.zeros_like(mask))
        assert not (seen & mask).any()
        seen |= mask
    if "train_json" in paths:
        train = json.loads(Path(paths["train_json"]).read_text())
        masked = json.loads(Path(paths["train_masks_json"]).read_text())
        assert train["annotations"]
        assert all("segmentation" not in a for a in train["annotations"])
        assert all(a["area"] == a["bbox"][2] * a["bbox"][3] for a in train["annotations"])
        boxes = [a["bbox"] for a in masked["annotations"]]
        assert [a["bbox"] for a in train["annotations"]] == boxes
        assert train["images"] == masked["images"]


def test_microscopy_is_deterministic_and_cached(microscopy, tmp_path):
    again = generate_microscopy_dataset(tmp_path / "again", **SMALL)
    first, second = _files(Path(microscopy["meta"]).parent), _files(Path(again["meta"]).parent)
    assert sorted(first) == sorted(second) and len(first) == 2 + 3 + 4
    assert all(first[name] == second[name] for name in first)
    stamp = Path(again["val_json"]).stat().st_mtime_ns
    assert generate_microscopy_dataset(tmp_path / "again", **SMALL) == again
    assert Path(again["val_json"]).stat().st_mtime_ns == stamp
    other = generate_microscopy_dataset(tmp_path / "other", **{**SMALL, "seed": 6})
    assert Path(other["val_json"]).read_bytes() != Path(microscopy["val_json"]).read_bytes()


def test_microscopy_masks_exact_and_train_box_only(microscopy):
    _check_exact_masks(microscopy)
    image = cv2.imread(str(Path(microscopy["val_images"]) / "000000.png"))
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


def test_microscopy_halo_between_nucleus_and_background():
    nucleus, halo, background = [], [], []
    for index in range(3):
        sample = render_microscopy(sample_rng(0, "val", index), 320)
        grey = sample.image[..., 0].astype(np.float64)
        cells = (sample.labels > 0).astype(np.uint8)
        near = cv2.dilate(cells, np.ones((7, 7), np.uint8)).astype(bool) & ~cells.astype(bool)
        far = ~cv2.dilate(cells, np.ones((41, 41), np.uint8)).astype(bool)
        # Erode the nuclei by the blur's reach so that their mean is their inside.
        inside = cv2.erode(cells, np.ones((5, 5), np.uint8)).astype(bool)
        nucleus.append(grey[inside].mean())
        halo.append(grey[near].mean())
        background.append(grey[far].mean())
    nucleus, halo, background = map(np.mean, (nucleus, halo, background))
    assert nucleus > halo + 20 and halo > background + 8, (nucleus, halo, background)


def test_microscopy_touching_nuclei_and_one_class():
    touching = 0
    for index in range(6):
        sample = render_microscopy(sample_rng(0, "train", index), 320)
        labels = sample.labels
        assert all(inst.category_id == 1 for inst in sample.instances)
        # Two different nuclei side by side somewhere in the image.
        right = (labels[:, 1:] != labels[:, :-1]) & (labels[:, 1:] > 0) & (labels[:, :-1] > 0)
        touching += int(right.any())
    assert touching >= 2


def test_microscopy_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        generate_microscopy_dataset(tmp_path, image_size=32)
    with pytest.raises(ValueError, match="counts"):
        generate_microscopy_dataset(tmp_path, num_train=-1)


@pytest.mark.parametrize(
    "generate", [textured.generate_textured_dataset, copypaste.generate_copypaste_dataset]
)
def test_rendered_sets_are_deterministic_with_exact_masks(generate, tmp_path):
    params = dict(num_train=2, num_val=3, image_size=128, seed=2)
    first, second = generate(tmp_path / "a", **params), generate(tmp_path / "b", **params)
    assert _files(Path(first["meta"]).parent) == _files(Path(second["meta"]).parent)
    _check_exact_masks(first)
    coco = json.loads(Path(first["val_json"]).read_text())
    used = {a["category_id"] for a in coco["annotations"]}
    assert used <= {c["id"] for c in coco["categories"]}
    with pytest.raises(ValueError, match="image_size"):
        generate(tmp_path / "c", image_size=32)


def test_textured_fills_are_textured():
    """The colour inside each object varies far more than the added noise (sigma <= 8)."""
    spreads = []
    for index in range(4):
        sample = textured.render_textured(sample_rng(0, "val", index), 320)
        for inst in sample.instances:
            mask = (sample.labels == inst.label).astype(np.uint8)
            inside = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
            if inside.sum() >= 50:
                spreads.append(sample.image[inside].astype(np.float64).std(axis=0).mean())
    assert len(spreads) >= 6 and np.median(spreads) > 15 and min(spreads) > 8, spreads


def test_real_photos_and_copypaste_classes(tmp_path):
    photos = real_photos.real_photos()
    voc = [p for p in photos if p.exact]
    assert len(voc) == 1 and len(voc[0].masks) == 19
    paths = real_photos.generate_real_photos_dataset(tmp_path / "real")
    _check_exact_masks(paths)
    coco = json.loads(Path(paths["val_json"]).read_text())
    assert len(coco["images"]) == 1 and len(coco["annotations"]) == 19
    assert coco["categories"] == [dict(c) for c in copypaste.CATEGORIES]
    assert {c[2] for c in copypaste.cutouts()} == {1, 2, 3, 4, 5}
    for photo in photos:  # disjoint visible masks, also for the ARC cut-outs
        assert (photo.masks.sum(axis=0) <= 1).all()


def test_registered_names_and_generators(tmp_path):
    for name in (
        "microscopy_train", "microscopy_val", "textured_train", "textured_val",
        "copypaste_train", "copypaste_val", "real_photos_val",
    ):  # fmt: skip
        assert name in DatasetCatalog.list()
    expected = {"synthetic", "synthetic_test", "microscopy", "textured", "copypaste", "real_photos"}
    assert expected == set(GENERATORS)
    assert Path(generate_builtin("real_photos_val", tmp_path)["val_json"]).is_file()
    with pytest.raises(KeyError, match="not a built-in set"):
        generate_builtin("no_such_set", tmp_path)


def test_generate_missing_builtins_writes_only_missing_builtin_sets(tmp_path):
    assert generate_missing_builtins(("real_photos_val", "mine_train"), tmp_path) == [
        "real_photos_val"
    ]
    json_file = tmp_path / "real_photos" / "val.json"
    assert json_file.is_file() and not (tmp_path / "mine_train").exists()
    before = json_file.stat().st_mtime_ns
    assert generate_missing_builtins(("real_photos_val",), tmp_path) == []
    assert json_file.stat().st_mtime_ns == before
