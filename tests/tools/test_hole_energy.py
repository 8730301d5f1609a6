"""tools/hole_energy.py."""

import numpy as np

from tools import hole_energy as energy


def test_hole_energy_tells_an_open_hole_from_a_painted_one():
    ring = np.zeros((1, 64, 64), dtype=bool)
    ring[0, 16:48, 16:48] = True
    ring[0, 24:40, 24:40] = False
    box = [[16.0, 16.0, 48.0, 48.0]]
    image = np.full((64, 64, 3), 50, dtype=np.uint8)
    image[ring[0]] = 200
    mean, std = [127.5] * 3, [50.0] * 3
    # The image shows the hole as background: filling it raises the energy.
    open_hole = energy.mask_and_filled_energy(image, ring, box, mean, std, stride=4, margin=1)
    assert open_hole[0, 1] > open_hole[0, 0]
    # The image paints the hole in the ring's colour: the filled-in mask fits it better.
    image[24:40, 24:40] = 200
    painted = energy.mask_and_filled_energy(image, ring, box, mean, std, stride=4, margin=1)
    assert painted[0, 1] < painted[0, 0]
