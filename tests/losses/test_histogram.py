"""The colour-histogram region energy: one phase for an object of two colours."""
import pytest
import torch

from box2mask.losses import BoxSupervisedMaskLoss
from box2mask.losses.histogram import colour_bin_index, histogram_region_energy
from box2mask.ops.levelset import box_masks_from_int_boxes


def _two_colour_object(size=40):
    """A square object, its top half close in colour to the background, its bottom half dark."""
    image = torch.full((1, 3, size, size), 0.2)
    obj = torch.zeros(size, size, dtype=torch.bool)
    obj[10:30, 10:30] = True
    image[:, :, 10:20, 10:30] = 1.0
    image[:, :, 20:30, 10:30] = -1.5
    dark = torch.zeros_like(obj)
    dark[20:30, 10:30] = True
    return image, obj, dark


def _loss(**kw):
    return BoxSupervisedMaskLoss(projection_weight=0.0, levelset_feature_weight=0.0,
                                 lcm_weight=0.0, min_box_pixels=1, levelset_margin=3,
                                 margin_is_background=True, **kw)


def _energy(loss, image, mask):
    logits = torch.where(mask, 8.0, -8.0)[None]
    box = torch.tensor([[10.0, 10.0, 30.0, 30.0]])
    return loss(logits, box, torch.zeros(1, dtype=torch.long), image)["loss_levelset"].item()


def test_mean_colour_energy_splits_the_object_and_histogram_energy_keeps_it_whole():
    image, obj, dark = _two_colour_object()
    constant = _loss(levelset_image_weight=1.0)
    assert _energy(constant, image, dark) < _energy(constant, image, obj)
    histogram = _loss(levelset_image_weight=0.0, histogram_weight=1.0)
    assert _energy(histogram, image, obj) < _energy(histogram, image, dark)


def test_histogram_energy_values_and_gradient():
    image, obj, _ = _two_colour_object(20)
    bins = colour_bin_index(image, 4)
    assert bins.shape == (1, 20, 20) and bins.min() >= 0 and bins.max() < 64
    # a region of one colour, all object: both densities put their mass on that bin
    probs = torch.ones(1, 20, 20, requires_grad=True)
    region = box_masks_from_int_boxes(torch.tensor([[0, 0, 5, 5]]), 20, 20)
    energy = histogram_region_energy(probs, bins, region, torch.zeros(1, dtype=torch.long), 64)
    assert energy.item() == pytest.approx(-torch.log(torch.tensor((25 + 1 / 64) / 26)).item(),
                                          rel=1e-5)
    energy.sum().backward()
    assert torch.isfinite(probs.grad).all() and probs.grad[0, 10:, 10:].abs().sum() == 0


def test_histogram_bins_are_checked():
    with pytest.raises(ValueError, match="HISTOGRAM_BINS"):
        BoxSupervisedMaskLoss(histogram_bins=0)
