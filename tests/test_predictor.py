"""box2mask.Predictor: paths and arrays in, Instances at image size out, clear errors."""
import cv2
import numpy as np
import pytest
import torch

import box2mask
from tiny_model import write_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny"))


def test_path_and_array_give_the_same_instances(tiny, tmp_path):
    config, weights = tiny
    predictor = box2mask.Predictor(config, weights, device="cpu")
    rgb = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    cv2.imwrite(str(path), rgb[:, :, ::-1])
    from_path, from_array = predictor(path), predictor(rgb)
    assert from_path.image_size == (50, 70)
    assert from_path.pred_masks.shape[1:] == (50, 70) and from_path.pred_masks.dtype == torch.bool
    assert len(from_path) == len(from_array) > 0
    torch.testing.assert_close(from_path.scores, from_array.scores)
    assert from_path.pred_classes.max() < 2 and from_path.pred_boxes.tensor.shape[1] == 4
    assert len(predictor(rgb[:, :, 0])) == len(from_array)  # grayscale array: replicated


def test_errors_name_the_problem(tiny, tmp_path):
    config, weights = tiny
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        box2mask.Predictor(config, tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        box2mask.Predictor(tmp_path / "nope.yaml", weights)
    predictor = box2mask.Predictor(config, weights, device="cpu")
    with pytest.raises(ValueError, match="uint8"):
        predictor(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        predictor(np.zeros((8, 8, 4), np.uint8))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="bad.png"):
        predictor(bad)
