"""``MSDeformAttn``: the multi-scale deformable attention module (Deformable DETR).

Shape glossary: B batch, Q queries, S = Σ_l H_l·W_l flattened pixels of all levels,
L levels, M heads, P sampling points per head and level, D = d_model / M.
"""

import math

import torch
from torch import nn

from box2mask.ops.ms_deform_attn import ms_deform_attn

__all__ = ["MSDeformAttn"]


class MSDeformAttn(nn.Module):
    """Each query attends to P learned points around its reference point on each of L levels.

    Args:
        d_model: channels of queries and values.
        n_levels: number of feature levels L.
        n_heads: attention heads M (``d_model`` must be divisible by it).
        n_points: sampling points P per head and level.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 3, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self):
        # Offsets start on a ring: head h looks in direction 2πh/M, point k at distance k+1.
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid = torch.stack([angles.cos(), angles.sin()], -1)  # [M, 2]
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor,
        padding_mask: torch.Tensor = None,
    ) -> torch.Tensor:
        """
        Args:
            query: [B, Q, d_model] queries (with positional encoding added).
            reference_points: [B, Q, L, 2] normalised (x, y) in [0, 1] per level.
            input_flatten: [B, S, d_model] values of all levels, flattened.
            spatial_shapes: [L, 2] long (H_l, W_l).
            level_start_index: [L] long, start of each level in S.
            padding_mask: optional [B, S] bool, True at padded pixels (their values are zeroed).

        Returns:
            [B, Q, d_model].
        """
        b, q, _ = query.shape
        s = input_flatten.shape[1]
        if reference_points.shape[-1] != 2:
            raise ValueError(
                f"reference_points must end in 2 (x, y), got shape {tuple(reference_points.shape)}"
            )
        if int((spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum()) != s:
            raise ValueError(
                f"input_flatten has {s} positions but spatial_shapes {spatial_shapes.tolist()} "
                "sum to a different number"
            )
        m, lv, p = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten)  # [B, S, d]
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.view(b, s, m, self.d_model // m)  # [B, S, M, D]
        offsets = self.sampling_offsets(query).view(b, q, m, lv, p, 2)
        weights = self.attention_weights(query).view(b, q, m, lv * p)
        weights = weights.softmax(-1).view(b, q, m, lv, p)
        # offsets are in pixels of each level: normalise by (W_l, H_l)
        normalizer = torch.stack([spatial_shapes[:, 1], spatial_shapes[:, 0]], -1).to(offsets)
        locations = (
            reference_points[:, :, None, :, None, :]  # [B, Q, 1, L, 1, 2]
            + offsets / normalizer[None, None, None, :, None, :]
        )  # [B, Q, M, L, P, 2]
        out = ms_deform_attn(value, spatial_shapes, level_start_index, locations, weights)
        return self.output_proj(out)  # [B, Q, d]
