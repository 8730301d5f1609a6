# TEMPORARY: replaced at merge
"""Stand-in for the multi-scale deformable attention op: the grid_sample reference only.

The real module (compiled CPU/CUDA kernels + autograd Function) comes from the op branch;
this file only provides the same functional API so the Box2Mask-T model can be built and tested.
"""

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["ms_deform_attn", "ms_deform_attn_reference"]


def ms_deform_attn_reference(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Multi-scale deformable attention with ``F.grid_sample`` (bilinear, zero padding).

    Args:
        value: [B, S, M, D] values of all levels, S = Σ_l H_l·W_l.
        spatial_shapes: [L, 2] long, (H_l, W_l) of each level.
        level_start_index: [L] long, offset of each level in S (unused: derived from shapes).
        sampling_locations: [B, Q, M, L, P, 2] normalised (x, y) in [0, 1]
            (grid_sample ``align_corners=False`` convention).
        attention_weights: [B, Q, M, L, P].

    Returns:
        [B, Q, M*D].
    """
    B, S, M, D = value.shape
    _, Q, _, L, P, _ = sampling_locations.shape
    sizes: Sequence[int] = [int(h) * int(w) for h, w in spatial_shapes.tolist()]
    value_list = value.split(sizes, dim=1)
    grids = 2 * sampling_locations - 1  # [B, Q, M, L, P, 2] in [-1, 1]
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes.tolist()):
        # [B, H*W, M, D] -> [B*M, D, H, W]
        v = value_list[lvl].flatten(2).transpose(1, 2).reshape(B * M, D, int(h), int(w))
        # [B, Q, M, P, 2] -> [B*M, Q, P, 2]
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)
        # [B*M, D, Q, P]
        sampled.append(
            F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        )
    # [B, Q, M, L, P] -> [B*M, 1, Q, L*P]
    weights = attention_weights.transpose(1, 2).reshape(B * M, 1, Q, L * P)
    # [B*M, D, Q, L*P] -> [B*M, D, Q]
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1)
    return out.view(B, M * D, Q).transpose(1, 2).contiguous()


def ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Same API as the compiled op; here it calls :func:`ms_deform_attn_reference`."""
    return ms_deform_attn_reference(
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    )
