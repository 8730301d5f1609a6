"""Kernel/category heads, mask feature branch and guide head built without a config."""

import math

import torch

from box2mask.modeling import FeatureGuideHead
from box2mask.modeling.box2mask_c import KernelCategoryHead, MaskFeatureHead
from box2mask.modeling.layers import coord_features


def test_kernel_category_head_shapes_and_prior():
    head = KernelCategoryHead(
        in_channels=32, num_classes=3, kernel_dim=16, num_grids=[6, 4], channels=32, num_convs=2
    )
    feats = [torch.randn(2, 32, 8, 12), torch.randn(2, 32, 4, 6)]
    logits, kernels = head(feats)
    assert [tuple(x.shape) for x in logits] == [(2, 3, 6, 6), (2, 3, 4, 4)]
    assert [tuple(x.shape) for x in kernels] == [(2, 16, 6, 6), (2, 16, 4, 4)]
    # Category probabilities start near the prior (0.01).
    assert abs(logits[0].sigmoid().mean().item() - 0.01) < 0.005
    torch.testing.assert_close(head.category_pred.bias, torch.full((3,), -math.log(0.99 / 0.01)))


def test_mask_feature_head_and_guide():
    head = MaskFeatureHead(in_channels=32, channels=32, out_channels=16, num_levels=4)
    feats = [torch.randn(1, 32, 16 // 2**i, 24 // 2**i) for i in range(4)]
    out = head(feats)
    assert out.shape == (1, 16, 16, 24)
    # Coordinates enter the coarsest level only.
    assert head.levels[3][0][0].in_channels == 34 and head.levels[2][0][0].in_channels == 32
    guide = FeatureGuideHead(in_channels=16, out_channels=5)(out)
    assert guide.shape == (1, 5, 16, 24)
    out.sum().backward()


def test_mask_feature_head_odd_sizes():
    # Sizes not divisible by the coarsest stride are resized to the finest level.
    head = MaskFeatureHead(in_channels=32, channels=32, out_channels=16, num_levels=3, norm="")
    feats = [torch.randn(1, 32, 13, 7), torch.randn(1, 32, 7, 4), torch.randn(1, 32, 4, 2)]
    assert head(feats).shape == (1, 16, 13, 7)


def test_coord_features():
    c = coord_features(torch.zeros(2, 1, 3, 5))
    assert c.shape == (2, 2, 3, 5)
    torch.testing.assert_close(c[0, 0, 0], torch.linspace(-1, 1, 5))
    torch.testing.assert_close(c[0, 1, :, 0], torch.linspace(-1, 1, 3))
