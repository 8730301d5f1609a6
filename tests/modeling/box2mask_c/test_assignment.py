"""Center-sampling assignment of Box2Mask-C against hand-computed grid cells."""

import torch

from box2mask.modeling.box2mask_c.assignment import center_sampling_level, center_sampling_targets


def _cells(claims):
    """[S, S] bool → sorted list of (row, col)."""
    return sorted(map(tuple, claims.nonzero().tolist()))


def test_level_cells_hand_computed():
    # 100 × 100 input, S = 10: one cell is 10 × 10 pixels.
    boxes = torch.tensor(
        [
            [20.0, 30.0, 60.0, 50.0],  # centre (40, 40), region ±(4, 2) → rows 3-4, cols 3-4
            [0.0, 0.0, 100.0, 100.0],  # centre (50, 50), region ±10 → rows 4-6, cols 4-6
            [71.0, 12.0, 73.0, 14.0],  # centre (72, 13), tiny → the centre cell only
        ]
    )
    claims = center_sampling_level(boxes, (100, 100), 10, 0.2)
    assert claims.shape == (3, 10, 10)
    assert _cells(claims[0]) == [(3, 3), (3, 4), (4, 3), (4, 4)]
    assert _cells(claims[1]) == [(r, c) for r in (4, 5, 6) for c in (4, 5, 6)]
    assert _cells(claims[2]) == [(1, 7)]


def test_level_region_limited_to_3x3():
    # σ = 1: the centre region is the whole box, but only the 3 × 3 around the centre cell count.
    boxes = torch.tensor([[0.0, 0.0, 100.0, 60.0]])  # centre (50, 30) → cell (3, 5)
    claims = center_sampling_level(boxes, (100, 100), 10, 1.0)
    assert _cells(claims[0]) == [(r, c) for r in (2, 3, 4) for c in (4, 5, 6)]


def test_level_non_square_input():
    # H = 60, W = 120, S = 6: cells are 10 high and 20 wide.
    boxes = torch.tensor(
        [
            [50.0, 30.0, 80.0, 40.0],  # centre (65, 35), region ±(3, 1) → cell (3, 3) only
            [50.0, 20.0, 70.0, 40.0],  # centre (60, 30) on a cell corner, ±2 → rows/cols 2-3
        ]
    )
    claims = center_sampling_level(boxes, (60, 120), 6, 0.2)
    assert _cells(claims[0]) == [(3, 3)]
    assert _cells(claims[1]) == [(2, 2), (2, 3), (3, 2), (3, 3)]


def test_targets_levels_and_labels():
    boxes = torch.tensor([[20.0, 30.0, 60.0, 50.0], [0.0, 0.0, 100.0, 100.0]])
    classes = torch.tensor([2, 0])
    # √(wh): 28.3 → level 0 only; 100 → level 1 only.
    labels, index = center_sampling_targets(
        boxes, classes, (100, 100), [10, 5], [(1, 50), (40, 200)], 0.2, num_classes=3
    )
    assert labels.shape == index.shape == (100 + 25,)
    level0, level1 = labels[:100].view(10, 10), labels[100:].view(5, 5)
    assert _cells(level0 == 2) == [(3, 3), (3, 4), (4, 3), (4, 4)]
    assert (level0 != 3).sum() == 4
    # S = 5 (20-pixel cells): centre (50, 50) → cell (2, 2), region 40..60 → cells 2..3.
    assert _cells(level1 == 0) == [(2, 2), (2, 3), (3, 2), (3, 3)]
    assert (level1 != 3).sum() == 4
    assert set(index[:100][level0.flatten() != 3].tolist()) == {0}
    assert set(index[100:][level1.flatten() != 3].tolist()) == {1}
    assert (index[labels == 3] == -1).all()


def test_targets_overlapping_ranges_and_conflicts():
    # Both boxes share a centre; both fall in both (overlapping) ranges; the smaller wins.
    boxes = torch.tensor([[30.0, 30.0, 70.0, 70.0], [40.0, 40.0, 60.0, 60.0]])
    classes = torch.tensor([0, 1])
    labels, index = center_sampling_targets(
        boxes, classes, (100, 100), [10, 10], [(1, 50), (10, 100)], 0.2, num_classes=2
    )
    for level in (labels[:100], labels[100:]):
        assert _cells(level.view(10, 10) == 1) == [(4, 4), (4, 5), (5, 4), (5, 5)]
        assert (level == 0).sum() == 0
    assert set(index[labels != 2].tolist()) == {1}


def test_targets_empty_and_degenerate():
    labels, index = center_sampling_targets(
        torch.zeros((0, 4)),
        torch.zeros((0,), dtype=torch.long),
        (64, 96),
        [4, 2],
        [(1, 64), (32, 512)],
        0.2,
        5,
    )
    assert (labels == 5).all() and (index == -1).all() and len(labels) == 20
    # Zero-width box: ignored.
    labels, _ = center_sampling_targets(
        torch.tensor([[10.0, 10.0, 10.0, 30.0]]),
        torch.tensor([0]),
        (64, 96),
        [4],
        [(0, 64)],
        0.2,
        5,
    )
    assert (labels == 5).all()
