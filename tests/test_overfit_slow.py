"""Slow: each demo model, trained from boxes only, overfits 8 synthetic images (train = eval
set, resized to 640 pixels: see benchmarks/overfit.py) to mask AP >= 60, through train_net.py
and detectron2's COCOEvaluator."""
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_overfit", ROOT / "benchmarks/overfit.py")
overfit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(overfit)


@pytest.mark.parametrize("model, iters", [("c", 400), ("t", 400)])
def test_overfit_8_synthetic_images_from_boxes(tmp_path, model, iters):
    assert overfit.overfit_mask_ap(model, iters, tmp_path) >= 60.0
