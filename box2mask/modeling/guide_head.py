"""The deep-feature guide head F of the tree-filtered level-set target (docs/method.md §2).

Shared by Box2Mask-C (G = 5 channels) and Box2Mask-T (G = 1).
"""

import torch
from torch import nn

from detectron2.config import configurable
from detectron2.layers import Conv2d

__all__ = ["FeatureGuideHead"]


class FeatureGuideHead(nn.Module):
    """conv3×3 D → G on the mask features, trained only through the tree filter's edge
    weights (the deep-feature tree of the level-set term)."""

    @configurable
    def __init__(self, *, in_channels: int, out_channels: int):
        """
        Args:
            in_channels: D, channels of the mask features.
            out_channels: G (LOSS.FEATURE_GUIDE_CHANNELS).
        """
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, 3, padding=1)
        nn.init.normal_(self.conv.weight, std=0.01)
        nn.init.zeros_(self.conv.bias)

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        return {
            "in_channels": in_channels,
            "out_channels": cfg.MODEL.BOX2MASK.LOSS.FEATURE_GUIDE_CHANNELS,
        }

    def forward(self, mask_features: torch.Tensor) -> torch.Tensor:
        """
        Args:
            mask_features: [B, D, h, w].
        Returns:
            [B, G, h, w] guide features.
        """
        return self.conv(mask_features)
