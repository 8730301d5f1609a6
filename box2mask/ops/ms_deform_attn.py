"""Multi-scale deformable attention (Deformable DETR; the Mask2Former pixel decoder).

Each query reads, per head, P points on each of L feature levels by bilinear interpolation and
sums them with its attention weights. ``ms_deform_attn`` runs the compiled kernels of
``box2mask._C`` (CPU and CUDA, forward and backward); ``ms_deform_attn_reference`` is the same
computation with ``F.grid_sample``, used by the tests and the benchmark.

Shape glossary:
    B batch, Q queries, M heads, D channels per head, L levels, P points per level and head,
    (H_l, W_l) size of level l, S = sum_l H_l * W_l value positions (levels concatenated in
    order, level l starting at ``level_start_index[l]``).

Location convention: (x, y) normalised to [0, 1], (0, 0) the top-left corner of the map,
pixel centres at ((i + 0.5) / W_l, (j + 0.5) / H_l); bilinear interpolation with zero padding
outside the map, i.e. ``grid_sample(2 * loc - 1, align_corners=False, padding_mode="zeros")``.
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._extension import autocast_disabled, check_values, compute_dtype, fake_kernel, ops

__all__ = ["ms_deform_attn", "ms_deform_attn_reference"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


@fake_kernel("ms_deform_attn_forward")
def _forward_fake(value, spatial_shapes, level_start_index, sampling_locations, weights):
    B, _, M, D = value.shape
    return value.new_empty((B, sampling_locations.shape[1], M * D))


@fake_kernel("ms_deform_attn_backward")
def _backward_fake(value, spatial_shapes, level_start_index, locations, weights, grad_output):
    return value.new_empty(value.shape), locations.new_empty(locations.shape), weights.new_empty(
        weights.shape
    )


def _check_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Validate shapes, dtypes and devices (and the level geometry where :func:`check_values`
    allows)."""
    names = ("value", "spatial_shapes", "level_start_index", "sampling_locations")
    names += ("attention_weights",)
    args = (value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    for name, t in zip(names, args):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"ms_deform_attn: {name} must be a torch.Tensor, got {type(t)}")
    if value.dim() != 4:
        raise ValueError(f"ms_deform_attn: value must be [B, S, M, D], got {tuple(value.shape)}")
    B, S, M, D = value.shape
    if spatial_shapes.dim() != 2 or spatial_shapes.shape[1] != 2:
        raise ValueError(
            f"ms_deform_attn: spatial_shapes must be [L, 2] (H_l, W_l), got "
            f"{tuple(spatial_shapes.shape)}"
        )
    L = spatial_shapes.shape[0]
    if level_start_index.shape != (L,):
        raise ValueError(
            f"ms_deform_attn: level_start_index must be [L] = [{L}], got "
            f"{tuple(level_start_index.shape)}"
        )
    if spatial_shapes.dtype != torch.long or level_start_index.dtype != torch.long:
        raise TypeError(
            "ms_deform_attn: spatial_shapes and level_start_index must be torch.long, got "
            f"{spatial_shapes.dtype} and {level_start_index.dtype}"
        )
    if (
        sampling_locations.dim() != 6
        or sampling_locations.shape[0] != B
        or sampling_locations.shape[2] != M
        or sampling_locations.shape[3] != L
        or sampling_locations.shape[5] != 2
    ):
        raise ValueError(
            f"ms_deform_attn: sampling_locations must be [B, Q, M, L, P, 2] = [{B}, Q, {M}, {L}, "
            f"P, 2] (from value [B, S, M, D] and spatial_shapes [L, 2]), got "
            f"{tuple(sampling_locations.shape)}"
        )
    Q, P = sampling_locations.shape[1], sampling_locations.shape[4]
    if attention_weights.shape != (B, Q, M, L, P):
        raise ValueError(
            f"ms_deform_attn: attention_weights must be [B, Q, M, L, P] = {[B, Q, M, L, P]}, got "
            f"{tuple(attention_weights.shape)}"
        )
    dtypes = (value.dtype, sampling_locations.dtype, attention_weights.dtype)
    if not all(d.is_floating_point for d in dtypes):
        raise TypeError(
            "ms_deform_attn: value, sampling_locations and attention_weights must be floating "
            f"point, got {dtypes}"
        )
    if any(d in _LOW_PRECISION for d in dtypes):
        if torch.float64 in dtypes:
            raise TypeError(f"ms_deform_attn: cannot mix float64 with float16/bfloat16: {dtypes}")
    elif len(set(dtypes)) != 1:
        raise TypeError(
            "ms_deform_attn: value, sampling_locations and attention_weights must share one dtype "
            f"(float32 or float64; float16/bfloat16 are computed in float32), got {dtypes}"
        )
    devices = {t.device for t in args}
    if len(devices) != 1:
        raise ValueError(
            f"ms_deform_attn: all inputs must be on one device, got {[str(t.device) for t in args]}"
        )
    if L > 0 and check_values(spatial_shapes, level_start_index):
        sizes = spatial_shapes.prod(1)
        if bool((spatial_shapes < 0).any() | (level_start_index < 0).any()) or bool(
            ((level_start_index + sizes) > S).any()
        ):
            raise ValueError(
                f"ms_deform_attn: levels spatial_shapes={spatial_shapes.tolist()} starting at "
                f"level_start_index={level_start_index.tolist()} do not fit in value's S={S}"
            )


class _MSDeformAttnFunction(torch.autograd.Function):
    """Autograd of the compiled op; inputs are contiguous, one dtype (float32 or float64)."""

    @staticmethod
    def forward(
        ctx, value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    ):
        out = ops().ms_deform_attn_forward(
            value, spatial_shapes, level_start_index, sampling_locations, attention_weights
        )
        ctx.save_for_backward(
            value, spatial_shapes, level_start_index, sampling_locations, attention_weights
        )
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights = (
            ctx.saved_tensors
        )
        grad_value, grad_locations, grad_weights = ops().ms_deform_attn_backward(
            value,
            spatial_shapes,
            level_start_index,
            sampling_locations,
            attention_weights,
            grad_output.contiguous(),
        )
        return grad_value, None, None, grad_locations, grad_weights


def ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Multi-scale deformable attention with the compiled kernels (CPU or CUDA).

    Differentiable in value, sampling_locations and attention_weights. float16/bfloat16 inputs
    (as under autocast, possibly mixed with float32) are computed in float32 and the result is
    cast back to value's dtype. Non-contiguous inputs are accepted.

    Args:
        value (Tensor): [B, S, M, D] per-head values of all levels, concatenated over positions
            (row-major within each level).
        spatial_shapes (Tensor): [L, 2] long, (H_l, W_l) of each level.
        level_start_index (Tensor): [L] long, first position of each level in S.
        sampling_locations (Tensor): [B, Q, M, L, P, 2] normalised (x, y); (0, 0) is the
            top-left corner of the map, pixel centres at (i + 0.5) / W. Points outside [0, 1]
            read zeros beyond the border (bilinear with zero padding).
        attention_weights (Tensor): [B, Q, M, L, P] weight of each sampled point (usually a
            softmax over L * P).

    Returns:
        Tensor: [B, Q, M * D], heads concatenated (head m in channels m * D ... m * D + D - 1).
    """
    _check_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    dtype = compute_dtype(value, sampling_locations, attention_weights)
    with autocast_disabled(value.device):
        out = _MSDeformAttnFunction.apply(
            value.to(dtype).contiguous(),
            spatial_shapes.contiguous(),
            level_start_index.contiguous(),
            sampling_locations.to(dtype).contiguous(),
            attention_weights.to(dtype).contiguous(),
        )
    return out.to(value.dtype)


def ms_deform_attn_reference(
    value, spatial_shapes, level_start_index, sampling_locations, attention_weights
):
    """Pure-PyTorch multi-scale deformable attention (``F.grid_sample``), same API and result
    as :func:`ms_deform_attn`. Reads the level sizes on the host (``.tolist()``).

    Args:
        value (Tensor): [B, S, M, D].
        spatial_shapes (Tensor): [L, 2] long (H_l, W_l).
        level_start_index (Tensor): [L] long.
        sampling_locations (Tensor): [B, Q, M, L, P, 2] normalised (x, y) in [0, 1].
        attention_weights (Tensor): [B, Q, M, L, P].

    Returns:
        Tensor: [B, Q, M * D].
    """
    B, S, M, D = value.shape
    _, Q, _, L, P, _ = sampling_locations.shape
    if L == 0:
        return value.new_zeros(B, Q, M * D)
    grids = 2 * sampling_locations - 1  # [B, Q, M, L, P, 2] in grid_sample's [-1, 1]
    sampled = []
    for (h, w), start in zip(spatial_shapes.tolist(), level_start_index.tolist()):
        if B * M * Q == 0 or h * w == 0:  # grid_sample rejects empty inputs
            sampled.append(value.new_zeros(B * M, D, Q, P))
            continue
        v = value[:, start : start + h * w]  # [B, H*W, M, D]
        v = v.permute(0, 2, 3, 1).reshape(B * M, D, h, w)  # [B*M, D, H, W]
        g = grids[:, :, :, len(sampled)].transpose(1, 2).reshape(B * M, Q, P, 2)  # [B*M, Q, P, 2]
        sampled.append(
            F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        )  # [B*M, D, Q, P]
    sampled = torch.stack(sampled, dim=-2).flatten(-2)  # [B*M, D, Q, L*P]
    weights = attention_weights.transpose(1, 2).reshape(B * M, 1, Q, L * P)  # [B*M, 1, Q, L*P]
    out = (sampled * weights).sum(-1)  # [B*M, D, Q]
    return out.view(B, M * D, Q).transpose(1, 2)  # [B, Q, M*D]
