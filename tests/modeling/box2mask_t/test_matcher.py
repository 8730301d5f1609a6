import math

import torch

from box2mask.losses import boxes_to_mask_grid

from box2mask.modeling.box2mask_t.matcher import (
    NON_FINITE_COST,
    BoxHungarianMatcher,
    MaskHungarianMatcher,
    box_projection_targets,
    pairwise_dice,
    solve_assignment,
)


def test_solve_assignment_hand_made():
    cost = torch.tensor([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    rows, cols = solve_assignment(cost)
    assert rows.tolist() == [0, 1, 2]
    assert cols.tolist() == [1, 0, 2]  # total 1 + 2 + 2 = 5 is the minimum


def test_solve_assignment_non_finite():
    nan, inf = math.nan, math.inf
    cost = torch.tensor([[nan, 1.0], [inf, -inf], [0.5, nan]])
    rows, cols = solve_assignment(cost)
    pairs = dict(zip(rows.tolist(), cols.tolist()))
    # the only all-finite matching: query 0 → target 1, query 2 → target 0
    assert pairs == {0: 1, 2: 0}
    # an all-NaN matrix still yields a full matching
    rows, cols = solve_assignment(torch.full((3, 2), nan))
    assert len(rows) == 2 and len(set(cols.tolist())) == 2
    assert NON_FINITE_COST > 1e6


def test_box_projection_targets():
    boxes = torch.tensor([[1.0, 2.0, 4.0, 3.0], [2.2, 0.0, 2.4, 0.1], [-5.0, -5.0, 50.0, 50.0]])
    px, py = box_projection_targets(boxes, height=5, width=6)
    assert px[0].tolist() == [0, 1, 1, 1, 0, 0]  # columns 1..3: [1, 4)
    assert py[0].tolist() == [0, 0, 1, 0, 0]
    assert px[1].tolist() == [0, 0, 1, 0, 0, 0]  # degenerate box keeps one column
    assert py[1].tolist() == [1, 0, 0, 0, 0]
    assert px[2].sum() == 6 and py[2].sum() == 5  # clipped to the grid


def test_box_projection_targets_match_the_losses_box_masks():
    boxes = torch.tensor([[0.3, 0.6, 3.4, 2.5], [1.5, 1.49, 5.51, 4.0], [2.0, 2.0, 2.2, 2.9]])
    px, py = box_projection_targets(boxes, height=5, width=6)
    _, masks = boxes_to_mask_grid(boxes, 5, 6)
    assert torch.equal(px, masks.amax(1)) and torch.equal(py, masks.amax(2))


def test_pairwise_dice():
    a = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    d = pairwise_dice(a, a)
    assert torch.allclose(d.diag(), torch.zeros(2), atol=1e-4)
    assert torch.allclose(d[0, 1], torch.tensor(1.0))


def _outputs(q=4, c=3, h=8, w=10):
    logits = torch.zeros(1, q, c + 1)
    masks = torch.full((1, q, h, w), -10.0)
    return logits, masks


def test_box_matcher_prefers_matching_projections():
    logits, masks = _outputs()
    masks[0, 2, 1:4, 2:6] = 10.0  # query 2 fills box A
    masks[0, 0, 5:8, 6:10] = 10.0  # query 0 fills box B
    targets = [
        {
            "labels": torch.tensor([1, 0]),
            "boxes": torch.tensor([[2.0, 1.0, 6.0, 4.0], [6.0, 5.0, 10.0, 8.0]]),
        }
    ]
    matcher = BoxHungarianMatcher(cost_class=2.0, cost_box=5.0)
    ((src, tgt),) = matcher({"pred_logits": logits, "pred_masks": masks}, targets)
    assert dict(zip(tgt.tolist(), src.tolist())) == {0: 2, 1: 0}


def test_box_matcher_nan_predictions_and_empty_targets():
    logits, masks = _outputs()
    masks[0, 1] = math.nan
    logits[0, 3] = math.inf
    targets = [
        {"labels": torch.tensor([0, 2]), "boxes": torch.tensor([[0.0, 0, 3, 3], [4, 4, 9, 7]])}
    ]
    matcher = BoxHungarianMatcher(cost_class=2.0, cost_box=5.0)
    ((src, tgt),) = matcher({"pred_logits": logits, "pred_masks": masks}, targets)
    assert len(src) == 2 and sorted(tgt.tolist()) == [0, 1]
    assert not ({1, 3} & set(src.tolist()))  # queries with NaN costs are avoided
    empty = [{"labels": torch.zeros(0, dtype=torch.long), "boxes": torch.zeros(0, 4)}]
    ((src, tgt),) = matcher({"pred_logits": logits, "pred_masks": masks}, empty)
    assert src.numel() == 0 and tgt.numel() == 0


def test_mask_matcher():
    logits, masks = _outputs()
    gt = torch.zeros(2, 8, 10)
    gt[0, :4, :5] = 1
    gt[1, 4:, 5:] = 1
    masks[0, 3] = gt[0] * 20 - 10
    masks[0, 1] = gt[1] * 20 - 10
    targets = [{"labels": torch.tensor([0, 1]), "boxes": torch.zeros(2, 4), "masks": gt}]
    ((src, tgt),) = MaskHungarianMatcher()({"pred_logits": logits, "pred_masks": masks}, targets)
    assert dict(zip(tgt.tolist(), src.tolist())) == {0: 3, 1: 1}
