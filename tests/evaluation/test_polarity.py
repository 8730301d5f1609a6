import json
import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from box2mask.evaluation.polarity import evaluate_polarity, match_by_box, polarity_of_matches

H, W = 48, 64


def _ring_object():
    """A disc of radius 10 at (30, 20) and its box (x0, y0, x1, y1)."""
    ys, xs = np.mgrid[0:H, 0:W]
    obj = (xs - 30) ** 2 + (ys - 20) ** 2 <= 100
    ys_, xs_ = np.nonzero(obj)
    box = np.array([xs_.min(), ys_.min(), xs_.max() + 1, ys_.max() + 1], np.float64)
    return obj, box


def _in_box(box):
    region = np.zeros((H, W), bool)
    x0, y0, x1, y1 = box.astype(int)
    region[y0:y1, x0:x1] = True
    return region


def test_perfect_and_inverted_masks():
    obj, box = _ring_object()
    inverted = _in_box(box) & ~obj  # the box's corners: an inverted prediction
    preds = np.stack([obj, inverted])
    for k, expected in ((0, (1.0, 0.0)), (1, (0.0, 1.0))):
        matches = match_by_box(box[None], [1], preds[k : k + 1], [1], [0.9])
        assert len(matches) == 1 and matches[0][:2] == (0, 0)
        (res,) = polarity_of_matches(obj[None], box[None], preds[k : k + 1], matches)
        assert (res["inside_object"], res["in_box_background"]) == pytest.approx(expected)
        assert res["outside_box"] == pytest.approx(0.0)


def test_mask_spilling_out_of_the_box():
    obj, box = _ring_object()
    pred = obj.copy()
    pred[20, 40:56] = True  # a tail to the right, mostly outside the box
    (match,) = match_by_box(box[None], [1], pred[None], [1], [1.0], iou_threshold=0.3)
    (res,) = polarity_of_matches(obj[None], box[None], pred[None], [match])
    area = pred.sum()
    outside = (pred & ~_in_box(box)).sum()
    assert res["outside_box"] == pytest.approx(outside / area)
    assert res["inside_object"] == pytest.approx(obj.sum() / area)
    assert sum(res.values()) == pytest.approx(1.0)


def test_matching_is_one_to_one_by_score_and_class():
    obj, box = _ring_object()
    inverted = _in_box(box) & ~obj
    preds = np.stack([inverted, obj, obj, np.zeros_like(obj)])
    # The inverted mask scores highest and takes the object; the class-2 copy never matches;
    # the empty mask is skipped.
    matches = match_by_box(box[None], [1], preds, [1, 1, 2, 1], [0.9, 0.8, 0.95, 0.99])
    assert [m[:2] for m in matches] == [(0, 0)]
    assert match_by_box(box[None], [1], preds[:0], [], []) == []
    far = np.zeros_like(obj)
    far[40:46, 2:8] = True
    assert match_by_box(box[None], [1], far[None], [1], [1.0]) == []  # box IoU 0: unmatched
    with pytest.raises(ValueError, match="scores"):
        match_by_box(box[None], [1], preds, [1], [0.5])


def _rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    return rle


def test_evaluate_polarity_on_coco_files(tmp_path):
    obj, box = _ring_object()
    x0, y0, x1, y1 = box
    other = np.zeros((H, W), bool)
    other[5:15, 50:60] = True
    gt = {
        "images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
        "categories": [{"id": 1, "name": "nucleus"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
             "segmentation": _rle(obj), "area": int(obj.sum()), "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 5, 10, 10],
             "segmentation": _rle(other), "area": 100, "iscrowd": 0},
        ],
    }  # fmt: skip
    json_file = tmp_path / "val.json"
    json_file.write_text(json.dumps(gt))
    results = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": _rle(_in_box(box) & ~obj)},
        {"image_id": 1, "category_id": 1, "score": 0.8, "segmentation": _rle(other)},
        {"image_id": 1, "category_id": 1, "score": 0.01, "segmentation": _rle(obj)},
    ]
    results_file = tmp_path / "coco_instances_results.json"
    results_file.write_text(json.dumps(results))
    res = evaluate_polarity(json_file, results_file)
    assert res["matched"] == 2 and res["predictions"] == 3 and res["ground_truth"] == 2
    assert res["inside_object"] == pytest.approx(0.5)  # one inverted (0), one perfect (1)
    assert res["in_box_background"] == pytest.approx(0.5)
    assert evaluate_polarity(json_file, results[2:], score_threshold=0.5)["predictions"] == 0
    assert math.isnan(evaluate_polarity(json_file, [])["inside_object"])

    del gt["annotations"][0]["segmentation"]
    json_file.write_text(json.dumps(gt))
    with pytest.raises(ValueError, match="no 'segmentation'"):
        evaluate_polarity(json_file, results)
