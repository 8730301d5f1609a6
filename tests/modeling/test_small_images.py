"""Both models return masks of the input image's size for every image from 1 to 40 pixels and
for odd aspect ratios (images smaller than the mask grid once resized for the test size)."""
import numpy as np
import pytest
import torch
from detectron2.data import transforms as T
from detectron2.modeling import build_model

from box2mask.modeling.mask_postprocess import resample_to_output

from tiny_model import tiny_c_cfg
from .box2mask_t.conftest import make_tiny_cfg as tiny_t_cfg

SIZES = [(s, s) for s in range(1, 41)] + [(1, 40), (40, 1), (3, 7), (16, 2000), (2000, 16),
                                          (9, 33)]


def _inputs(sizes, min_size, max_size):
    """The test mapper's resize of random images of each (height, width)."""
    resize = T.ResizeShortestEdge(min_size, max_size)
    rng = np.random.default_rng(0)
    inputs = []
    for h, w in sizes:
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        image = resize.get_transform(image).apply_image(image)
        inputs.append({"image": torch.as_tensor(image.transpose(2, 0, 1).copy()),
                       "height": h, "width": w})
    return inputs


@pytest.mark.parametrize("output", [(1, 1), (7, 7), (8, 8), (15, 15), (16, 16), (1, 40), (13, 3)])
def test_resample_to_output_has_the_output_size(output):
    # 8- to 16-pixel images resized to 320: an 80 × 80 grid over a 320 × 320 input
    for h, w in ((80, 80), (20, 30), (1, 1)):
        masks = torch.randn(2, h, w)
        out = resample_to_output(masks, (320, 320), output, (320, 320))
        assert out.shape == (2, *output)


def test_resample_to_output_pads_with_the_edge_values():
    masks = torch.tensor([[[1.0, 3.0], [5.0, 7.0]]])  # 2 × 2 grid over an 8 × 8 input
    out = resample_to_output(masks, (8, 8), (1, 1), (8, 8))
    # the single output pixel samples input pixel 3.5 of 8: the grid's centre
    assert out.shape == (1, 1, 1) and torch.allclose(out, torch.tensor(4.0))


@pytest.mark.parametrize("model_name", ["c", "t"])
@pytest.mark.parametrize("min_size", [64, 320])
def test_masks_have_the_image_size(model_name, min_size):
    torch.manual_seed(0)
    cfg = tiny_c_cfg() if model_name == "c" else tiny_t_cfg()
    if model_name == "c":
        cfg.MODEL.BOX2MASK_C.PRIOR_PROB = 0.5  # random weights that still predict instances
        cfg.MODEL.BOX2MASK_C.MASK_PROB_THRESHOLD = 0.5
    model = build_model(cfg).eval()
    inputs = _inputs(SIZES, min_size, 4 * min_size)
    predicted = 0
    with torch.no_grad():
        for i in range(0, len(inputs), 8):
            for x, out in zip(inputs[i : i + 8], model(inputs[i : i + 8])):
                inst = out["instances"]
                assert inst.image_size == (x["height"], x["width"])
                assert inst.pred_masks.shape[1:] == (x["height"], x["width"])
                assert torch.isfinite(inst.scores).all()
                predicted += len(inst)
    assert predicted > 0
