"""Slow: each demo model, trained from boxes only, overfits 8 synthetic images (train = eval
set, resized to 640 pixels: see tools/overfit.py) to mask AP >= 60, through train_net.py
and detectron2's COCOEvaluator."""
import pytest

from tools import overfit

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model, iters", [("c", 400), ("t", 400)])
def test_overfit_8_synthetic_images_from_boxes(tmp_path, model, iters):
    assert overfit.overfit_mask_ap(model, iters, tmp_path) >= 60.0
