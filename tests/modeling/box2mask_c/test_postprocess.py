"""Points-NMS, Matrix NMS (hand-computed decays) and the Box2Mask-C post-processor."""

import math

import pytest
import torch
from torch.nn import functional as F

from box2mask.modeling.box2mask_c.postprocess import Box2MaskCPostProcessor, matrix_nms, points_nms
from box2mask.modeling.mask_postprocess import masks_to_boxes


def test_points_nms_hand_computed():
    heat = torch.tensor([[0.1, 0.5, 0.2], [0.3, 0.4, 0.6], [0.9, 0.2, 0.1]])[None, None]
    keep = torch.tensor([[1, 1, 0], [1, 0, 1], [1, 0, 0]], dtype=torch.bool)
    out = points_nms(heat)[0, 0]
    assert torch.equal(out, heat[0, 0] * keep)


def _masks(rows):
    return torch.tensor(rows, dtype=torch.bool)[:, None, :]  # [N, 1, w]


def test_matrix_nms_gaussian_and_linear_hand_computed():
    # A, B, C sorted by score, one class. IoU(A,B) = 4/5, IoU(A,C) = 1/6, IoU(B,C) = 1/3;
    # B was suppressed by A (comp_B = 0.8), so B barely suppresses C.
    masks = _masks([[1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0]])
    labels = torch.tensor([0, 0, 0])
    scores = torch.tensor([0.9, 0.8, 0.7])
    g = matrix_nms(masks, labels, scores, "gaussian", 2.0)
    c_by_b = math.exp(-2 * (1 / 3) ** 2) / math.exp(-2 * 0.8**2)  # > 1: no decay
    expected_c = 0.7 * min(math.exp(-2 * (1 / 6) ** 2), c_by_b)
    torch.testing.assert_close(g, torch.tensor([0.9, 0.8 * math.exp(-2 * 0.64), expected_c]))
    lin = matrix_nms(masks, labels, scores, "linear")
    expected_c = 0.7 * min(5 / 6, (1 - 1 / 3) / (1 - 0.8))
    torch.testing.assert_close(lin, torch.tensor([0.9, 0.8 * 0.2, expected_c]))


def test_matrix_nms_classes_independent_and_empty():
    masks = _masks([[1, 1, 0], [1, 1, 0]])
    out = matrix_nms(masks, torch.tensor([0, 1]), torch.tensor([0.9, 0.8]))
    torch.testing.assert_close(out, torch.tensor([0.9, 0.8]))
    empty = matrix_nms(
        torch.zeros((0, 4, 4), dtype=torch.bool), torch.zeros(0).long(), torch.zeros(0)
    )
    assert empty.shape == (0,)
    with pytest.raises(ValueError, match="gaussian"):
        matrix_nms(masks, torch.tensor([0, 1]), torch.tensor([0.9, 0.8]), "box")


def test_matrix_nms_per_class_blocks_match_dense_formula():
    torch.manual_seed(0)
    n = 40
    masks = torch.rand(n, 12, 12) > 0.6
    labels = torch.randint(0, 4, (n,))
    scores = torch.rand(n).sort(descending=True).values
    m = masks.reshape(n, -1).float()
    inter = m @ m.t()
    union = m.sum(1)[:, None] + m.sum(1)[None, :] - inter
    iou = (inter / union).triu(1) * (labels[:, None] == labels[None, :]).triu(1)
    comp = iou.max(0).values[:, None]
    dense = scores * torch.exp(-2.0 * (iou**2 - comp**2)).min(0).values
    torch.testing.assert_close(matrix_nms(masks, labels, scores, "gaussian", 2.0), dense)


def test_resize_masks_one_pass_equals_two_pass_when_sizes_agree():
    # Output = image size: one pass at the input scale is exactly the resize to the padded
    # input followed by the crop to the image.
    torch.manual_seed(0)
    probs = torch.rand(3, 10, 14)
    masks = _post()._resize_masks(probs, (40, 56), (37, 50), (37, 50))
    two_pass = F.interpolate(probs[:, None], size=(40, 56), mode="bilinear")[:, 0, :37, :50]
    assert torch.equal(masks, two_pass > 0.5)


def test_masks_to_boxes():
    masks = torch.zeros((2, 5, 6), dtype=torch.bool)
    masks[0, 1:3, 2:5] = True
    boxes = masks_to_boxes(masks)
    torch.testing.assert_close(boxes, torch.tensor([[2.0, 1.0, 5.0, 3.0], [0.0, 0.0, 0.0, 0.0]]))


def _post(**kw):
    return Box2MaskCPostProcessor(
        score_thresh=0.1, nms_pre=10, mask_prob_threshold=0.5, update_thresh=0.05, max_per_img=5, **kw
    )


def test_postprocess_mask_padding_and_resize():
    # Mask features 8 × 8 at stride 4 → padded input 32 × 32; the valid image is 24 × 32
    # (8 padded rows) and the original image 48 × 64 (factor 2).
    feat = torch.full((1, 8, 8), -10.0)
    feat[0, 1:4, 2:6] = 10.0  # rows 1-3, cols 2-5 at mask resolution
    probs = torch.zeros((3, 2))
    probs[0, 1] = 0.9  # cell 0, class 1
    probs[2, 1] = 0.8  # a duplicate of the same mask → decayed by Matrix NMS
    kernels = torch.ones((3, 1))
    out = _post()(probs, kernels, torch.full((3,), 8.0), feat, (32, 32), (24, 32), (48, 64))
    assert out.image_size == (48, 64)
    assert out.pred_masks.shape == (2, 48, 64) and out.pred_masks.dtype == torch.bool
    assert out.pred_classes.tolist() == [1, 1]
    torch.testing.assert_close(
        out.scores, torch.tensor([0.9, 0.8 * math.exp(-2.0)]), atol=1e-3, rtol=0
    )
    # Mask pixels [4, 16) × [8, 24) of the input, × 2 in the output: box (16, 8, 48, 32).
    torch.testing.assert_close(
        out.pred_boxes.tensor[0], torch.tensor([16.0, 8.0, 48.0, 32.0]), atol=2, rtol=0
    )


def test_postprocess_nothing_passes():
    out = _post()(
        torch.full((6, 3), 0.01),
        torch.ones((6, 1)),
        torch.full((6,), 8.0),
        torch.zeros((1, 8, 8)),
        (32, 32),
        (32, 32),
        (40, 40),
    )
    assert len(out) == 0 and out.image_size == (40, 40)
    assert out.pred_masks.shape == (0, 40, 40) and out.pred_masks.dtype == torch.bool
    assert out.pred_boxes.tensor.shape == (0, 4)
    assert out.scores.shape == (0,) and out.pred_classes.dtype == torch.long


def test_postprocess_small_masks_dropped():
    feat = torch.full((1, 8, 8), -10.0)
    feat[0, 2, 2] = 10.0  # one pixel ≤ stride 8: dropped as in SOLOv2
    out = _post()(
        torch.full((1, 1), 0.9),
        torch.ones((1, 1)),
        torch.full((1,), 8.0),
        feat,
        (32, 32),
        (32, 32),
        (32, 32),
    )
    assert len(out) == 0
