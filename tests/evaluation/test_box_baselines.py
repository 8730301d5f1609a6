import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from box2mask import ops
from box2mask.data.synthetic import generate_synthetic_dataset
from box2mask.evaluation import box_baselines
from box2mask.evaluation.box_baselines import (
    MASK_METHODS,
    box_fill_masks,
    evaluate_box_baseline,
    register_mask_method,
)

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "mIoU")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return generate_synthetic_dataset(root, num_train=2, num_val=6, image_size=192, seed=0)


def _gt_mask_fn(json_file):
    """A mask_fn that returns the ground-truth masks, found by image content and box."""
    coco = json.loads(Path(json_file).read_text())
    root = Path(json_file).parent / "val"
    by_image = {}
    for im in coco["images"]:
        from_disk = cv2.imread(str(root / im["file_name"]))[..., ::-1]
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        by_image[hashlib.sha1(np.ascontiguousarray(from_disk).tobytes()).hexdigest()] = anns

    def mask_fn(image, boxes):
        anns = by_image[hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()]
        masks = []
        for box in boxes:
            (ann,) = [a for a in anns if np.allclose(a["bbox"], [*box[:2], *(box[2:] - box[:2])])]
            masks.append(mask_utils.decode(ann["segmentation"]).astype(bool))
        return np.stack(masks)

    return mask_fn


def test_box_fill_numbers_are_percentages(data):
    res = evaluate_box_baseline(data["val_json"], data["val_images"], box_fill_masks)
    assert set(res) == set(KEYS)
    for key in ("AP", "AP50", "AP75", "mIoU"):
        assert 0.0 <= res[key] <= 100.0
    for key in ("APs", "APm", "APl"):
        assert math.isnan(res[key]) or 0.0 <= res[key] <= 100.0
    assert res["AP75"] < 50.0 and res["mIoU"] < 80.0  # rings and stars fill their box badly


def test_perfect_masks_score_100(data):
    res = evaluate_box_baseline(data["val_json"], data["val_images"], _gt_mask_fn(data["val_json"]))
    assert res["AP"] == pytest.approx(100.0, abs=1e-6)
    assert res["AP75"] == pytest.approx(100.0, abs=1e-6)
    assert res["mIoU"] == pytest.approx(100.0)


def test_box_fill_covers_exactly_the_coco_box():
    image = np.zeros((12, 10, 3), np.uint8)
    mask = np.zeros((12, 10), bool)
    mask[2:7, 3:9] = True
    mask[4, 3] = False
    x, y, w, h = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8))))
    boxes = np.array([[x, y, x + w, y + h], [0, 0, 0, 0], [-5, -5, 50, 50]], np.float32)
    out = box_fill_masks(image, boxes)
    assert out.shape == (3, 12, 10) and out.dtype == bool
    expected = np.zeros((12, 10), bool)
    expected[2:7, 3:9] = True
    np.testing.assert_array_equal(out[0], expected)
    assert not out[1].any() and out[2].all()
    assert box_fill_masks(image, np.zeros((0, 4), np.float32)).shape == (0, 12, 10)


def test_box_only_json_is_refused(data):
    with pytest.raises(ValueError, match="segmentation"):
        evaluate_box_baseline(data["train_json"], data["train_images"], box_fill_masks)


def test_wrong_mask_shape_is_refused(data):
    with pytest.raises(ValueError, match="mask_fn returned shape"):
        evaluate_box_baseline(
            data["val_json"],
            data["val_images"],
            lambda image, boxes: box_fill_masks(image, boxes)[:, :-1],
        )


def test_missing_images_are_reported(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot read image"):
        evaluate_box_baseline(data["val_json"], tmp_path, box_fill_masks)


def test_levelset_method_without_the_op_says_so(monkeypatch):
    monkeypatch.delattr(ops, "evolve_levelset", raising=False)
    with pytest.raises(RuntimeError, match="evolve_levelset"):
        MASK_METHODS["levelset-evolution"](np.zeros((8, 8, 3), np.uint8), np.zeros((1, 4)))


def test_levelset_method_calls_the_op(monkeypatch, data):
    seen = {}

    def fake_evolve(image, boxes):
        seen["image"], seen["boxes"] = image, boxes
        return torch.from_numpy(box_fill_masks(image.permute(1, 2, 0).numpy(), boxes.numpy()))

    monkeypatch.setattr(ops, "evolve_levelset", fake_evolve, raising=False)
    res = evaluate_box_baseline(
        data["val_json"], data["val_images"], MASK_METHODS["levelset-evolution"]
    )
    fill = evaluate_box_baseline(data["val_json"], data["val_images"], box_fill_masks)
    assert res == pytest.approx(fill, nan_ok=True)
    assert seen["image"].dtype == torch.float32 and seen["image"].shape == (3, 192, 192)
    assert seen["boxes"].dtype == torch.float32 and seen["boxes"].shape[1] == 4


def test_registry_refuses_duplicates():
    with pytest.raises(KeyError):
        register_mask_method("box-fill")(box_fill_masks)


def test_cli_last_line(data, capsys):
    box_baselines.main(["--json", data["val_json"], "--images", data["val_images"]])
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert last[:3] == ["box-fill", "mask", "AP"] and last[4::2] == ["AP50", "AP75", "mIoU"]
    assert all(0.0 <= float(v) <= 100.0 for v in last[3::2])
