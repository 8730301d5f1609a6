"""tools/prediction_overlap.py."""

import numpy as np
import pytest

from tools import prediction_overlap as overlap


def test_prediction_overlap_counts_duplicates_and_best_iou():
    masks = np.zeros((3, 10, 10), dtype=bool)
    masks[0, :5, :5] = True
    masks[1, :5, :4] = True  # IoU 0.8 with mask 0
    masks[2, 6:, 6:] = True
    rles = overlap.to_rles(masks)
    assert overlap.count_duplicates(rles, 0.5) == 2
    assert overlap.count_duplicates(rles, 0.9) == 0
    assert overlap.count_duplicates([], 0.5) == 0
    record = {
        "height": 10,
        "width": 10,
        "annotations": [{"segmentation": [[6, 6, 10, 6, 10, 10, 6, 10]]}],
    }
    iou = overlap.pairwise_iou(overlap.gt_rles(record), rles)
    assert iou.shape == (1, 3) and iou[0, 2] == pytest.approx(1.0, abs=0.2)
    assert iou[0, :2].max() == 0
