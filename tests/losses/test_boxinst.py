"""BoxInst baseline loss: pairwise term by hand, LAB, empty boxes, warm-up, config switch."""

import math

import cv2
import numpy as np
import pytest
import torch
from detectron2.modeling import build_model

from box2mask.losses import BoxInstMaskLoss
from box2mask.losses.boxinst import (
    boxinst_pairwise_loss,
    color_similarity,
    pairwise_log_term,
    rgb_to_lab,
    unfold_without_center,
    warmup_factor,
)

from detectron2.structures import Boxes, Instances

from tiny_model import tiny_c_cfg


def _logit(p):
    return math.log(p / (1 - p))


# 3 × 3 probabilities; the centre (0.8) has all 8 neighbours inside the map at dilation 1.
PROBS = [[0.9, 0.1, 0.6], [0.3, 0.8, 0.5], [0.2, 0.7, 0.95]]


def _neighbours_by_hand():
    return [PROBS[y][x] for y in range(3) for x in range(3) if (y, x) != (1, 1)]


def test_unfold_without_center_order_and_zero_padding():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    cols = unfold_without_center(x, 3, 1)  # [1, 1, 8, 3, 3]
    assert cols.shape == (1, 1, 8, 3, 3)
    assert cols[0, 0, :, 1, 1].tolist() == [0, 1, 2, 3, 5, 6, 7, 8]
    assert cols[0, 0, :, 0, 0].tolist() == [0, 0, 0, 0, 1, 0, 3, 4]
    with pytest.raises(ValueError, match="odd"):
        unfold_without_center(x, 2, 1)


def test_pairwise_term_hand_made_3x3():
    logits = torch.tensor([[_logit(p) for p in row] for row in PROBS], dtype=torch.float64)[None]
    terms = pairwise_log_term(logits, kernel_size=3, dilation=1)  # [1, 8, 3, 3]
    pc = 0.8
    expected = [-math.log(pc * pj + (1 - pc) * (1 - pj)) for pj in _neighbours_by_hand()]
    assert torch.allclose(terms[0, :, 1, 1], torch.tensor(expected, dtype=torch.float64))

    # Loss over the centre pixel only (the "box"), with two neighbours below the threshold.
    box = torch.zeros(1, 3, 3, dtype=torch.float64)
    box[0, 1, 1] = 1
    similarity = torch.ones(1, 8, 3, 3, dtype=torch.float64)
    similarity[0, 0] = 0.29  # neighbour (0, 0) does not count
    similarity[0, 7] = 0.1  # neighbour (2, 2) does not count
    loss = boxinst_pairwise_loss(logits, similarity, box, 0.3, 3, 1)
    assert math.isclose(loss.item(), sum(expected[1:7]) / 6, rel_tol=1e-12)


def test_pairwise_term_saturated_logits_finite_gradient():
    logits = torch.tensor([[[-60.0, 60.0], [60.0, 60.0]]], requires_grad=True)
    terms = pairwise_log_term(logits, 3, 1)
    assert torch.isfinite(terms).all()
    # Opposite labels with certainty: P(same) = 2σ(60)σ(-60) ≈ 2e^-60, finite, not log(0).
    assert terms[0, 4, 0, 0].item() == pytest.approx(60.0 - math.log(2.0), rel=1e-4)
    terms.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_rgb_to_lab_matches_opencv():
    rng = np.random.default_rng(0)
    rgb = rng.random((5, 7, 3)).astype(np.float32)
    rgb[0, 0] = 0.0  # black (linear segments)
    rgb[0, 1] = 1.0  # white
    rgb[0, 2] = 0.003  # dark
    expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    lab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    # OpenCV interpolates the sRGB gamma from a table (errors up to ~0.2 LAB units); the
    # pairwise threshold 0.3 corresponds to a distance of 2.4.
    np.testing.assert_allclose(lab.numpy(), expected, atol=0.3)
    assert lab[0, 1, 0].item() == pytest.approx(100.0, abs=0.01)


def test_color_similarity_formula():
    lab = torch.zeros(1, 3, 1, 3)
    lab[0, :, 0, 2] = torch.tensor([3.0, 4.0, 0.0])  # distance 5 from its neighbour
    sim = color_similarity(lab, kernel_size=3, dilation=1)  # [1, 8, 1, 3]
    # Pixel (0, 1): right neighbour is index 4 (row-major without centre).
    assert sim[0, 4, 0, 1].item() == pytest.approx(math.exp(-2.5))
    assert sim[0, 3, 0, 1].item() == pytest.approx(1.0)  # left neighbour, same colour


def test_warmup_factor():
    assert warmup_factor(0, 10) == 0.0
    assert warmup_factor(5, 10) == 0.5
    assert warmup_factor(25, 10) == 1.0
    assert warmup_factor(3, 0) == 1.0


def _inputs(n=2, h=24, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, h, w, generator=g, requires_grad=True)
    boxes = torch.tensor([[2.0, 3.0, 15.0, 20.0], [8.0, 1.0, 23.0, 12.0]])[:n]
    images = torch.randn(1, 3, h, w, generator=g)
    return logits, boxes, torch.zeros(n, dtype=torch.long), images


def test_module_warmup_counter_and_keys():
    loss = BoxInstMaskLoss(warmup_iters=4)
    loss.train()
    logits, boxes, index, images = _inputs()
    pairs = []
    for _ in range(6):
        out = loss(logits, boxes, index, images)
        assert set(out) == {"loss_mask_proj", "loss_pairwise"}
        pairs.append(out["loss_pairwise"].item())
    assert int(loss.iteration) == 6
    assert pairs[1] == pytest.approx(2 * pairs[0])  # factors 1/4, 2/4, 3/4, 1, 1, 1
    assert pairs[3] == pytest.approx(pairs[5])
    assert pairs[0] == pytest.approx(pairs[3] / 4)
    loss.eval()
    loss(logits, boxes, index, images)
    assert int(loss.iteration) == 6  # evaluation does not advance the ramp
    assert "iteration" in loss.state_dict()


def test_module_empty_boxes_and_no_instances():
    loss = BoxInstMaskLoss(warmup_iters=0)
    logits, boxes, index, images = _inputs()
    boxes = boxes.clone()
    boxes[:, 2:] = boxes[:, :2]  # zero-size boxes: no pixel in any box
    out = loss(logits, boxes, index, images)
    assert out["loss_pairwise"].item() == 0.0
    out["loss_pairwise"].backward()

    empty = torch.zeros(0, 24, 24, requires_grad=True)
    out = loss(empty, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), images)
    assert all(v.item() == 0.0 for v in out.values())
    sum(out.values()).backward()
    assert empty.grad is not None


def test_module_bgr_input_matches_rgb():
    logits, boxes, index, images = _inputs()
    rgb = BoxInstMaskLoss(warmup_iters=0, input_format="RGB")(logits, boxes, index, images)
    bgr = BoxInstMaskLoss(
        warmup_iters=0,
        input_format="BGR",
        image_mean=(103.53, 116.28, 123.675),  # input channel order
        image_std=(57.375, 57.12, 58.395),
    )(logits, boxes, index, images.flip(1))
    assert rgb["loss_pairwise"].item() == pytest.approx(bgr["loss_pairwise"].item(), rel=1e-6)
    with pytest.raises(ValueError, match="RGB"):
        BoxInstMaskLoss(input_format="YUV")


def test_uniform_colour_box_penalises_isolated_pixel():
    """Inside a uniform-colour box every pair counts: an isolated foreground pixel among
    confident background is pushed down, and flipping it lowers the loss."""
    loss = BoxInstMaskLoss(warmup_iters=0)
    logits = torch.full((1, 16, 16), -3.0)
    logits[0, 8, 8] = 3.0
    logits.requires_grad_(True)
    images = torch.zeros(1, 3, 16, 16)
    box, index = torch.tensor([[2.0, 2.0, 14.0, 14.0]]), torch.zeros(1).long()
    out = loss(logits, box, index, images)
    out["loss_pairwise"].backward()
    assert logits.grad[0, 8, 8] > 0
    flat = loss(torch.full((1, 16, 16), -3.0), box, index, images)
    assert flat["loss_pairwise"] < out["loss_pairwise"]


def tiny_cfg(mask_loss):
    return tiny_c_cfg(**{"MODEL.BOX2MASK.LOSS.MASK_LOSS": mask_loss})


def make_input(boxes, classes, seed, h=64, w=96):
    image = torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed)) * 255
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.long)
    return {"image": image, "instances": inst, "height": h, "width": w}


def test_config_switch_builds_boxinst_and_trains():
    torch.manual_seed(0)
    cfg = tiny_cfg("boxinst")
    model = build_model(cfg)
    assert isinstance(model.criterion.box_mask_loss, BoxInstMaskLoss)
    assert model.guide_head is None
    model.train()
    batch = [
        make_input([[10, 8, 40, 50], [50, 20, 90, 60]], [0, 2], seed=1),
        make_input([[20, 10, 70, 40]], [1], seed=2),
    ]
    losses = model(batch)
    assert set(losses) == {"loss_cls", "loss_mask_proj", "loss_pairwise"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_config_switch_rejects_unknown_loss():
    with pytest.raises(ValueError, match="MASK_LOSS"):
        build_model(tiny_cfg("crf"))
