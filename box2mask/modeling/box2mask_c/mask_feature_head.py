"""Mask feature branch of Box2Mask-C.

Glossary: B images, C_in FPN channels, E intermediate channels, D mask feature channels
(= dynamic-kernel size), h × w the stride-4 mask resolution.
"""

from typing import Dict, List

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec

from ..layers import conv_norm_relu, coord_features, norm_layer

__all__ = ["MaskFeatureHead"]


class MaskFeatureHead(nn.Module):
    """Unified stride-4 mask feature from P2–P5 (SOLOv2's mask branch).

    Level i (0 = finest) goes through max(i, 1) × (conv3×3 + norm + ReLU), each followed by a
    ×2 upsampling for i > 0, so every level reaches the finest resolution; the coarsest level
    gets 2 coordinate channels first. The sum is projected by conv1×1 + norm + ReLU to D.
    """

    @configurable
    def __init__(
        self,
        *,
        in_channels: int,
        channels: int,
        out_channels: int,
        num_levels: int = 4,
        norm: str = "GN",
    ):
        """
        Args:
            in_channels: C_in of every input level.
            channels: E.
            out_channels: D.
            num_levels: number of input levels (P2..P5: 4).
            norm: "GN" or "".
        """
        super().__init__()
        self.levels = nn.ModuleList()
        for i in range(num_levels):
            convs = []
            for j in range(max(i, 1)):
                with_coords = j == 0 and i == num_levels - 1 and i > 0
                cin = channels if j > 0 else in_channels + (2 if with_coords else 0)
                convs.append(conv_norm_relu(cin, channels, norm))
            self.levels.append(nn.ModuleList(convs))
        self.project = nn.Sequential(
            Conv2d(channels, out_channels, 1, bias=not norm),
            *([norm_layer(norm, out_channels)] if norm else []),
            nn.ReLU(inplace=True),
        )
        nn.init.normal_(self.project[0].weight, std=0.01)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        c = cfg.MODEL.BOX2MASK_C
        channels = {input_shape[f].channels for f in c.MASK_IN_FEATURES}
        assert len(channels) == 1, f"levels {c.MASK_IN_FEATURES} must share a channel count"
        return {
            "in_channels": channels.pop(),
            "channels": c.MASK_FEATURE_CHANNELS,
            "out_channels": c.KERNEL_DIM,
            "num_levels": len(c.MASK_IN_FEATURES),
            "norm": c.NORM,
        }

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        """
        Args:
            features: per level [B, C_in, H_l, W_l], finest (stride 4) first.
        Returns:
            [B, D, h, w] mask feature at the resolution of the finest level.
        """
        assert len(features) == len(self.levels), "one input per mask feature level"
        size = features[0].shape[-2:]
        fused = None
        for i, (x, convs) in enumerate(zip(features, self.levels)):
            if i == len(self.levels) - 1 and i > 0:
                x = torch.cat([x, coord_features(x)], dim=1)
            for conv in convs:
                x = conv(x)
                if i > 0:
                    x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            if x.shape[-2:] != size:  # inputs not divisible by the coarsest stride
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            fused = x if fused is None else fused + x
        return self.project(fused)
