"""tools/compare_runs.py."""
import json

import numpy as np
import pytest
from pycocotools import mask as mask_util

from tools.compare_runs import run_instances


def test_run_instances_reads_one_images_predictions(tmp_path):
    mask = np.zeros((6, 8), dtype=np.uint8)
    mask[1:4, 2:5] = 1
    rle = mask_util.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode()
    results = [
        {"image_id": 3, "category_id": 7, "score": 0.9, "bbox": [2, 1, 3, 3], "segmentation": rle},
        {"image_id": 4, "category_id": 7, "score": 0.5, "bbox": [0, 0, 1, 1], "segmentation": rle},
    ]
    path = tmp_path / "coco_instances_results.json"
    path.write_text(json.dumps(results))
    inst = run_instances(path, 3, (6, 8))
    assert len(inst) == 1 and inst.scores.tolist() == [pytest.approx(0.9)]
    assert inst.pred_masks[0].sum() == 9 and inst.pred_boxes.tensor.tolist() == [[2, 1, 5, 4]]
    assert len(run_instances(path, 99, (6, 8))) == 0
