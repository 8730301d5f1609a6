"""Deep-structural targets cat(T1, T2) (box2mask.losses.structural_targets)."""
import importlib

import pytest
import torch

from box2mask.losses.structural_targets import IMAGE_GUIDE_STD, deep_structural_targets
from box2mask.ops.tree_filter import tree_filter_reference

tree_filter_module = importlib.import_module("box2mask.ops.tree_filter")


def normalised(images_255: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_GUIDE_STD).view(1, 3, 1, 1)
    return (images_255 - mean) / std


def test_targets_match_two_reference_filters():
    gen = torch.Generator().manual_seed(0)
    images = normalised(torch.rand(2, 3, 12, 10, generator=gen) * 255)
    guide = torch.randn(2, 5, 12, 10, generator=gen, requires_grad=True)
    probs = torch.rand(3, 12, 10, generator=gen, requires_grad=True)
    image_index = torch.tensor([1, 0, 1])
    targets = deep_structural_targets(probs, images, guide, image_index)
    assert targets.shape == (3, 2, 12, 10)
    t1, _ = tree_filter_reference(probs[:, None], images, 0.02, image_index)
    t2, _ = tree_filter_reference(t1, guide, 1.0, image_index, learn_guide=True)
    torch.testing.assert_close(targets, torch.cat([t1, t2], 1), rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(targets.square().sum(), (probs, guide))
    grads_ref = torch.autograd.grad(torch.cat([t1, t2], 1).square().sum(), (probs, guide))
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-6)
        assert g.abs().sum() > 0


def test_cached_trees_are_reused_and_give_the_same_targets(monkeypatch):
    gen = torch.Generator().manual_seed(2)
    images = normalised(torch.rand(2, 3, 9, 11, generator=gen) * 255)
    guide = torch.randn(2, 3, 9, 11, generator=gen)
    probs = torch.rand(4, 9, 11, generator=gen)
    image_index = torch.tensor([0, 1, 1, 0])
    fresh = deep_structural_targets(probs, images, guide, image_index)
    trees = {}
    first = deep_structural_targets(probs, images, guide, image_index, trees=trees)
    assert set(trees) == {"image", "guide"}
    built = []
    monkeypatch.setattr(tree_filter_module, "_build_tree", lambda g: built.append(g))
    again = deep_structural_targets(probs.flip(0), images, guide, image_index, trees=trees)
    assert built == []  # both MSTs came from the cache
    monkeypatch.undo()
    torch.testing.assert_close(first, fresh)
    torch.testing.assert_close(
        again, deep_structural_targets(probs.flip(0), images, guide, image_index)
    )


def test_gradient_reaches_probs_and_guide_not_images():
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(1, 3, 8, 8, generator=gen, requires_grad=True)
    guide = torch.randn(1, 1, 8, 8, generator=gen, requires_grad=True)
    probs = torch.rand(2, 8, 8, generator=gen, requires_grad=True)
    deep_structural_targets(probs, images, guide, torch.zeros(2, dtype=torch.long)).sum().backward()
    assert images.grad is None
    assert probs.grad is not None and guide.grad is not None


def test_filter_stops_at_an_image_edge():
    # Left half 20 grey levels darker than the right half: w = exp(-3 (20/57.6)^2 / 0.02) ~ 0.
    images_255 = torch.full((1, 3, 16, 16), 100.0)
    images_255[..., 8:] += 20.0
    probs = torch.zeros(1, 16, 16)
    probs[..., :8] = torch.rand(16, 8, generator=torch.Generator().manual_seed(2))
    guide = torch.zeros(1, 5, 16, 16)
    targets = deep_structural_targets(probs, normalised(images_255), guide, torch.zeros(1).long())
    left_mean = probs[0, :, :8].mean()
    torch.testing.assert_close(targets[0, 0, :, :8], left_mean.expand(16, 8), atol=1e-4, rtol=0)
    assert targets[0, 0, :, 8:].abs().max() < 1e-4
    # A constant guide F: T2 is the mean of T1 over the whole image.
    torch.testing.assert_close(targets[0, 1], targets[0, 0].mean().expand(16, 16))


def test_zero_instances():
    guide = torch.randn(2, 5, 6, 6, requires_grad=True)
    probs = torch.zeros(0, 6, 6, requires_grad=True)
    targets = deep_structural_targets(
        probs, torch.randn(2, 3, 6, 6), guide, torch.zeros(0, dtype=torch.long)
    )
    assert targets.shape == (0, 2, 6, 6)
    targets.sum().backward()
    assert probs.grad.shape == probs.shape


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\[N, h, w\]"):
        deep_structural_targets(
            torch.rand(2, 1, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 5, 6, 6), torch.zeros(2)
        )
    with pytest.raises(ValueError, match="share B, h, w"):
        deep_structural_targets(
            torch.rand(2, 6, 6), torch.rand(1, 3, 6, 6), torch.rand(1, 5, 6, 7), torch.zeros(2)
        )
