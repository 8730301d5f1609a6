import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from box2mask.data.synthetic import (
    CATEGORIES,
    MIN_VISIBLE_FRACTION,
    MIN_VISIBLE_SIDE,
    _shape_mask,
    generate_synthetic_dataset,
    instance_size_range,
    main,
    render_sample,
    sample_rng,
)

PARAMS = dict(num_train=4, num_val=6, image_size=192, seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), **PARAMS)


def _files(root):
    root = Path(root)
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(dataset, tmp_path):
    again = generate_synthetic_dataset(tmp_path / "again", **PARAMS)
    first, second = _files(Path(dataset["meta"]).parent), _files(Path(again["meta"]).parent)
    assert sorted(first) == sorted(second)
    assert len(first) == 4 + 6 + 3
    for name in first:
        assert first[name] == second[name], name
    other = generate_synthetic_dataset(tmp_path / "other", **{**PARAMS, "seed": 4})
    assert Path(other["val_json"]).read_bytes() != Path(dataset["val_json"]).read_bytes()


def test_idempotent_and_regenerates_on_new_parameters(tmp_path):
    params = dict(num_train=2, num_val=1, image_size=128, seed=0)
    paths = generate_synthetic_dataset(tmp_path, **params)
    stamp = {k: Path(v).stat().st_mtime_ns for k, v in paths.items()}
    assert generate_synthetic_dataset(tmp_path, **params) == paths
    assert {k: Path(v).stat().st_mtime_ns for k, v in paths.items()} == stamp
    generate_synthetic_dataset(tmp_path, **{**params, "num_train": 1})
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["000000.png"]
    assert json.loads((tmp_path / "meta.json").read_text())["num_train"] == 1


def test_json_schema(dataset):
    train = json.loads(Path(dataset["train_json"]).read_text())
    val = json.loads(Path(dataset["val_json"]).read_text())
    assert len(train["images"]) == 4 and len(val["images"]) == 6
    for coco in (train, val):
        assert [c["name"] for c in coco["categories"]] == ["blob", "star", "ring", "polygon"]
        ids = [a["id"] for a in coco["annotations"]]
        assert len(ids) == len(set(ids)) > 0
        image_ids = {im["id"] for im in coco["images"]}
        for im in coco["images"]:
            assert im["height"] == im["width"] == 192
        for a in coco["annotations"]:
            assert a["image_id"] in image_ids and a["iscrowd"] == 0
            assert 1 <= a["category_id"] <= len(CATEGORIES)
            assert all(isinstance(v, int) for v in a["bbox"]) and min(a["bbox"][2:]) >= 8
    for a in train["annotations"]:
        assert "segmentation" not in a and a["area"] == a["bbox"][2] * a["bbox"][3]
    for a in val["annotations"]:
        seg = a["segmentation"]
        assert isinstance(seg["counts"], str) and seg["size"] == [192, 192]


def test_images_are_rgb_of_the_right_size(dataset):
    for split in ("train", "val"):
        for path in sorted(Path(dataset[f"{split}_images"]).iterdir()):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert image.shape == (192, 192, 3) and image.dtype == np.uint8


def test_masks_are_the_visible_drawn_pixels(dataset):
    val = json.loads(Path(dataset["val_json"]).read_text())
    for im in val["images"]:
        sample = render_sample(sample_rng(PARAMS["seed"], "val", im["id"] - 1), 192)
        written = cv2.imread(str(Path(dataset["val_images"]) / im["file_name"]))
        np.testing.assert_array_equal(cv2.cvtColor(written, cv2.COLOR_BGR2RGB), sample.image)
        anns = [a for a in val["annotations"] if a["image_id"] == im["id"]]
        kept = [inst for inst in sample.instances if inst.annotated]
        assert [a["category_id"] for a in anns] == [inst.category_id for inst in kept]
        union = np.zeros((192, 192), np.int64)
        for ann, inst in zip(anns, kept):
            mask = mask_utils.decode(ann["segmentation"]).astype(bool)
            np.testing.assert_array_equal(mask, sample.labels == inst.label)
            union += mask
            assert ann["area"] == mask.sum() == inst.visible_area
            ys, xs = np.nonzero(mask)
            x, y = xs.min(), ys.min()
            assert ann["bbox"] == [x, y, xs.max() - x + 1, ys.max() - y + 1]  # tight
        assert union.max() <= 1  # occlusion: visible masks never overlap


def test_train_boxes_are_tight_on_the_visible_masks(dataset):
    train = json.loads(Path(dataset["train_json"]).read_text())
    for im in train["images"]:
        sample = render_sample(sample_rng(PARAMS["seed"], "train", im["id"] - 1), 192)
        kept = [inst for inst in sample.instances if inst.annotated]
        anns = [a for a in train["annotations"] if a["image_id"] == im["id"]]
        assert len(anns) == len(kept)
        for ann, inst in zip(anns, kept):
            ys, xs = np.nonzero(sample.labels == inst.label)
            assert ann["bbox"] == [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1]


@pytest.mark.parametrize("image_size", [128, 320])
def test_sizes_counts_drop_rule_and_classes(image_size):
    lo, hi = instance_size_range(image_size)
    assert (lo, hi) == ((16, 200) if image_size == 320 else (8, 80))
    categories = set()
    for index in range(8):
        sample = render_sample(sample_rng(0, "val", index), image_size)
        assert sample.image.shape == (image_size, image_size, 3)
        assert 2 <= len(sample.instances) <= 6
        assert set(np.unique(sample.labels)) <= {0} | {i.label for i in sample.instances}
        for inst in sample.instances:
            x0, y0, x1, y1 = inst.full_box
            assert 0 <= x0 < x1 <= image_size and 0 <= y0 < y1 <= image_size
            assert lo <= max(x1 - x0, y1 - y0) <= hi
            visible = sample.labels == inst.label
            assert visible.sum() == inst.visible_area <= inst.full_area
            big_enough = inst.visible_area >= MIN_VISIBLE_FRACTION * inst.full_area
            if inst.visible_area:
                ys, xs = np.nonzero(visible)
                big_enough &= min(np.ptp(xs), np.ptp(ys)) + 1 >= MIN_VISIBLE_SIDE
            assert inst.annotated == big_enough
            categories.add(inst.category_id)
    assert len(categories) >= 3


def test_shapes_fill_their_box_poorly():
    # Stars and rings cover well under their box: the reason box-fill fails at AP75.
    fills = {1: [], 2: [], 3: [], 4: []}
    for index in range(12):
        for inst in render_sample(sample_rng(1, "train", index), 320).instances:
            x0, y0, x1, y1 = inst.full_box
            fills[inst.category_id].append(inst.full_area / ((x1 - x0) * (y1 - y0)))
    assert np.mean(fills[2]) < 0.55 and np.mean(fills[3]) < 0.6
    assert all(np.mean(f) < 0.8 for f in fills.values() if f)


def test_cli(tmp_path, capsys):
    main(["--out", str(tmp_path), "--num-train", "1", "--num-val", "2", "--size", "128"])
    out = capsys.readouterr().out
    assert "val: 2 images" in out and (tmp_path / "val.json").is_file()
    assert len(list((tmp_path / "val").iterdir())) == 2


def test_synthetic_test_set_is_registered_and_disjoint_from_the_demo_set():
    from detectron2.data import MetadataCatalog

    from box2mask.data.builtin import SYNTHETIC_TEST

    json_file = Path(MetadataCatalog.get("synthetic_test").json_file)
    assert json_file.parts[-2:] == ("synthetic_test", "val.json")
    assert SYNTHETIC_TEST["num_train"] == 0 and SYNTHETIC_TEST["num_val"] == 500
    for index in range(3):
        test = render_sample(sample_rng(SYNTHETIC_TEST["seed"], "val", index), 128).image
        for split in ("train", "val"):
            demo = render_sample(sample_rng(0, split, index), 128).image
            assert not np.array_equal(test, demo)


def test_bad_arguments():
    with pytest.raises(ValueError, match="image_size"):
        generate_synthetic_dataset("unused", image_size=16)


@pytest.mark.parametrize("category_id", [1, 2, 3, 4])
def test_full_shape_is_tight_in_its_box(category_id):
    rng = np.random.default_rng(category_id)
    for size in (8, 16, 57, 200):
        mask = _shape_mask(rng, category_id, size)
        ys, xs = np.nonzero(mask)
        assert max(mask.shape) == size
        assert (xs.min(), ys.min()) == (0, 0)
        assert (xs.max() + 1, ys.max() + 1) == (mask.shape[1], mask.shape[0])
