"""tools/hole_fill.py."""

import numpy as np
import pytest

from tools import hole_fill as holes
from tools import prediction_overlap as overlap


def test_hole_fill_measures_the_covered_part_of_each_hole():
    ring = np.zeros((1, 12, 12), dtype=bool)
    ring[0, 2:10, 2:10] = True
    ring[0, 4:8, 4:8] = False  # a 16-pixel hole
    solid = np.zeros((1, 12, 12), dtype=bool)
    solid[0, 0:2, 0:2] = True  # no hole: left out
    half = ring.copy()
    half[0, 4:8, 4:6] = True  # covers 8 of the hole's 16 pixels
    gt = list(overlap.to_rles(ring)) + list(overlap.to_rles(solid))
    assert holes.hole_fill(gt, list(overlap.to_rles(half))) == [pytest.approx(0.5)]
    assert holes.hole_fill(gt, []) == [0.0]
