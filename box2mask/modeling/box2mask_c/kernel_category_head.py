"""Kernel and category branches of Box2Mask-C (SOLOv2's instance head).

Glossary: B images, C_in FPN channels, S grid size of a level, D dynamic-kernel size
(= mask feature channels), K classes.
"""

import math
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec

from ..layers import conv_norm_relu, coord_features

__all__ = ["KernelCategoryHead"]


class KernelCategoryHead(nn.Module):
    """Per-cell dynamic kernels and category scores on S × S grids, towers shared by levels.

    Kernel branch: features + 2 coordinate channels, resized to S × S, ``num_convs`` ×
    (conv3×3 + norm + ReLU), conv3×3 → D kernel weights. Category branch: the same resized
    features without coordinates, a tower of its own, conv3×3 → K logits with the bias set
    to the prior probability.
    """

    @configurable
    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        kernel_dim: int,
        num_grids: Sequence[int],
        channels: int = 256,
        num_convs: int = 4,
        norm: str = "GN",
        prior_prob: float = 0.01,
    ):
        """
        Args:
            in_channels: C_in of every input level.
            num_classes: K.
            kernel_dim: D, weights of one dynamic 1×1 kernel.
            num_grids: S of each level, in the order of the features given to ``forward``.
            channels: tower width.
            num_convs: tower depth.
            norm: "GN" or "".
            prior_prob: initial sigmoid probability of every category logit.
        """
        super().__init__()
        self.num_grids = list(num_grids)
        self.kernel_tower = nn.Sequential(
            *[
                conv_norm_relu(in_channels + 2 if i == 0 else channels, channels, norm)
                for i in range(num_convs)
            ]
        )
        self.category_tower = nn.Sequential(
            *[
                conv_norm_relu(in_channels if i == 0 else channels, channels, norm)
                for i in range(num_convs)
            ]
        )
        self.kernel_pred = Conv2d(channels, kernel_dim, 3, padding=1)
        self.category_pred = Conv2d(channels, num_classes, 3, padding=1)
        nn.init.normal_(self.kernel_pred.weight, std=0.01)
        nn.init.zeros_(self.kernel_pred.bias)
        nn.init.normal_(self.category_pred.weight, std=0.01)
        nn.init.constant_(self.category_pred.bias, -math.log((1 - prior_prob) / prior_prob))

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        c = cfg.MODEL.BOX2MASK_C
        channels = {input_shape[f].channels for f in c.IN_FEATURES}
        assert len(channels) == 1, f"levels {c.IN_FEATURES} must share a channel count"
        return {
            "in_channels": channels.pop(),
            "num_classes": cfg.MODEL.BOX2MASK.NUM_CLASSES,
            "kernel_dim": c.KERNEL_DIM,
            "num_grids": c.NUM_GRIDS,
            "channels": c.TOWER_CHANNELS,
            "num_convs": c.NUM_TOWER_CONVS,
            "norm": c.NORM,
            "prior_prob": c.PRIOR_PROB,
        }

    def forward(
        self, features: List[torch.Tensor]
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """
        Args:
            features: per level [B, C_in, H_l, W_l] (already resized to the level's stride).
        Returns:
            category_logits: per level [B, K, S_l, S_l].
            kernels: per level [B, D, S_l, S_l].
        """
        assert len(features) == len(self.num_grids), "one grid size per input level"
        category_logits, kernels = [], []
        for x, s in zip(features, self.num_grids):
            x = torch.cat([x, coord_features(x)], dim=1)
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
            kernels.append(self.kernel_pred(self.kernel_tower(x)))
            category_logits.append(self.category_pred(self.category_tower(x[:, :-2])))
        return category_logits, kernels
