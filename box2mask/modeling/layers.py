"""Small building blocks of the heads (norm, conv-norm-ReLU, coordinate channels)."""

import math

import torch
from torch import nn

from detectron2.layers import Conv2d, get_norm

__all__ = ["norm_layer", "conv_norm_relu", "coord_features"]


def norm_layer(norm: str, channels: int) -> nn.Module:
    """detectron2's ``get_norm``, except "GN" uses gcd(32, channels) groups (32 for the
    paper's widths; narrow CPU-sized heads still work)."""
    if norm == "GN":
        return nn.GroupNorm(math.gcd(32, channels), channels)
    return get_norm(norm, channels)


def conv_norm_relu(in_channels: int, out_channels: int, norm: str) -> nn.Sequential:
    """conv3×3 (no bias when normalised) + norm (see ``norm_layer``; "": none) + ReLU."""
    layers = [
        Conv2d(in_channels, out_channels, 3, padding=1, bias=not norm),
    ]
    if norm:
        layers.append(norm_layer(norm, out_channels))
    layers.append(nn.ReLU(inplace=True))
    block = nn.Sequential(*layers)
    nn.init.normal_(block[0].weight, std=0.01)
    if block[0].bias is not None:
        nn.init.zeros_(block[0].bias)
    return block


def coord_features(x: torch.Tensor) -> torch.Tensor:
    """Normalised coordinates of every pixel of a feature map.

    Args:
        x: [B, C, H, W] (only its shape, dtype and device are used).
    Returns:
        [B, 2, H, W]: x then y, each linear in [-1, 1].
    """
    b, _, h, w = x.shape
    xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
    ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy])[None].expand(b, -1, -1, -1)
