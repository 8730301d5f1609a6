"""2-D sine positional encoding (DETR's ``normalize=True`` variant), shared by both decoders."""

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine encoding of normalised (y, x) pixel positions.

    Args:
        num_pos_feats: channels per coordinate; the output has ``2 * num_pos_feats`` channels.
        temperature: frequency base.
        scale: positions are normalised to [0, scale].
    """

    def __init__(
        self, num_pos_feats: int = 128, temperature: float = 10000.0, scale: float = 2 * math.pi
    ):
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x [B, C, H, W] (only shape/device/dtype are used). Returns [B, 2F, H, W]."""
        b, _, h, w = x.shape
        eps = 1e-6
        # cumulative positions 1..H / 1..W normalised to (0, scale]
        y = torch.arange(1, h + 1, device=x.device, dtype=torch.float32)
        xx = torch.arange(1, w + 1, device=x.device, dtype=torch.float32)
        y = y / (h + eps) * self.scale  # [H]
        xx = xx / (w + eps) * self.scale  # [W]
        dim_t = torch.arange(self.num_pos_feats, device=x.device, dtype=torch.float32)
        dim_t = self.temperature ** (
            2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats
        )
        pos_y = y[:, None] / dim_t  # [H, F]
        pos_x = xx[:, None] / dim_t  # [W, F]
        pos_y = torch.stack((pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()), dim=2).flatten(1)
        pos_x = torch.stack((pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()), dim=2).flatten(1)
        pos = torch.cat(
            (pos_y[:, None, :].expand(h, w, -1), pos_x[None, :, :].expand(h, w, -1)), dim=2
        )  # [H, W, 2F]
        return pos.permute(2, 0, 1)[None].expand(b, -1, -1, -1).to(x.dtype)
