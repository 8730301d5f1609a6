"""tools.mask_spill on hand-made masks: a mask on its object, one spread over a neighbour."""
import json

import numpy as np
import pytest
from pycocotools import mask as mask_util

from tools.mask_spill import main, mask_spill


def _rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    return rle


def _set():
    obj = np.zeros((40, 60), np.uint8)
    obj[10:20, 10:20] = 1
    gt = {"images": [{"id": 1, "height": 40, "width": 60}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                           "bbox": [10, 10, 10, 10], "segmentation": _rle(obj)}],
          "categories": [{"id": 1, "name": "a"}]}
    return gt, obj


def test_spill_counts_mask_beyond_the_grown_box(tmp_path):
    gt, obj = _set()
    spread = obj.copy()
    spread[10:20, 40:60] = 1  # 200 pixels on a neighbour far to the right
    results = [{"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": _rle(spread)},
               {"image_id": 1, "category_id": 1, "score": 0.1, "segmentation": _rle(obj)}]
    res = mask_spill(gt, results, score=0.3, grow=2)
    assert res["instances"] == 1
    assert res["mean_best_iou"] == pytest.approx(100 / 300)
    assert res["mean_spill"] == pytest.approx(200 / 300)
    assert res["spill_over_0.2"] == 1.0
    # with the low-scoring exact mask admitted it is the best match: no spill
    assert mask_spill(gt, results, score=0.0, grow=2)["mean_spill"] == 0.0

    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    out = main(["--json", str(tmp_path / "gt.json"), "--results", str(tmp_path / "res.json")])
    assert out["mean_spill"] == pytest.approx(200 / 300)
