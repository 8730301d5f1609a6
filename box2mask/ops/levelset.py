"""Region level-set energy (two-phase Chan–Vese with the Heaviside replaced by p), in a box.

Shapes: N instances, M target rows, C target channels, h × w the mask resolution.

For instance n with probabilities p = probs[n], target u = targets[target_index[n]] and the
hard box mask B of boxes[n] (integer pixels, exclusive ends, clipped to the map):

    f = p·B, b = (1 - p)·B
    c1 = Σ f·u / max(Σ f, 1e-5),  c2 = Σ b·u / max(Σ b, 1e-5)        (per channel, not detached)
    E  = (1/C) Σ_c Σ_xy [(u - c1)² f + (u - c2)² b]
    energy[n] = (E + γ Σ (|∂x f| + |∂y f| + |∂x b| + |∂y b|)) / max(Σ B, 1)

with forward differences on the full map for the optional length term (γ = length_weight,
default 0: off). The compiled op visits only the pixels of each box and allocates no
[N, C, h, w] temporary; ``region_levelset_energy_reference`` is the same formula in plain
PyTorch on full maps.
"""

import torch

from ._extension import autocast_disabled, check_values, compute_dtype, fake_kernel, ops

__all__ = ["region_levelset_energy", "region_levelset_energy_reference"]

_REGION_EPS = 1e-5


@fake_kernel("region_levelset_energy_forward")
def _forward_fake(probs, targets, boxes, target_index, length_weight):
    n, c = probs.shape[0], targets.shape[1]
    return probs.new_empty(n), probs.new_empty((n, 2 + 2 * c), dtype=torch.float64)


@fake_kernel("region_levelset_energy_backward")
def _backward_fake(grad_energy, probs, targets, boxes, target_index, stats, length_weight):
    return probs.new_empty(probs.shape), targets.new_empty(targets.shape)


def _check_inputs(probs, targets, boxes, target_index):
    """Validate the inputs of :func:`region_levelset_energy` (shapes, dtypes, devices; the
    range of ``target_index`` where :func:`check_values` allows)."""
    for name, t in (("probs", probs), ("targets", targets)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"region_levelset_energy: {name} must be a floating-point tensor")
    for name, t in (("boxes", boxes), ("target_index", target_index)):
        if (
            not isinstance(t, torch.Tensor)
            or t.is_floating_point()
            or t.is_complex()
            or (t.dtype == torch.bool)
        ):
            raise TypeError(
                f"region_levelset_energy: {name} must be an integer tensor (got "
                f"{getattr(t, 'dtype', type(t))}); build integer boxes with "
                "box2mask.losses.boxes_to_mask_grid"
            )
    if probs.dim() != 3:
        raise ValueError(f"region_levelset_energy: probs must be [N, h, w], got {probs.shape}")
    n, h, w = probs.shape
    if targets.dim() != 4 or targets.shape[2:] != (h, w) or targets.shape[1] == 0:
        raise ValueError(
            f"region_levelset_energy: targets must be [M, C >= 1, {h}, {w}], got {targets.shape}"
        )
    if boxes.shape != (n, 4):
        raise ValueError(f"region_levelset_energy: boxes must be [{n}, 4], got {boxes.shape}")
    if target_index.shape != (n,):
        raise ValueError(
            f"region_levelset_energy: target_index must be [{n}], got {target_index.shape}"
        )
    devices = {t.device for t in (probs, targets, boxes, target_index)}
    if len(devices) != 1:
        raise ValueError(
            f"region_levelset_energy: all inputs must be on one device, got {sorted(map(str, devices))}"
        )
    if n > 0 and check_values(target_index):
        lo, hi = target_index.min().item(), target_index.max().item()
        if lo < 0 or hi >= targets.shape[0]:
            raise IndexError(
                f"region_levelset_energy: target_index spans [{lo}, {hi}] but targets has "
                f"{targets.shape[0]} rows"
            )


class _RegionLevelsetEnergyFunction(torch.autograd.Function):
    """Autograd of the compiled op; float inputs contiguous, one dtype (float32 or float64)."""

    @staticmethod
    def forward(ctx, probs, targets, boxes, target_index, length_weight):
        energy, stats = ops().region_levelset_energy_forward(
            probs, targets, boxes, target_index, length_weight
        )
        ctx.save_for_backward(probs, targets, boxes, target_index, stats)
        ctx.length_weight = length_weight
        return energy

    @staticmethod
    def backward(ctx, grad_energy):
        probs, targets, boxes, target_index, stats = ctx.saved_tensors
        grad_probs, grad_targets = ops().region_levelset_energy_backward(
            grad_energy.contiguous(), probs, targets, boxes, target_index, stats, ctx.length_weight
        )
        return (
            grad_probs if ctx.needs_input_grad[0] else None,
            grad_targets if ctx.needs_input_grad[1] else None,
            None,
            None,
            None,
        )


def region_levelset_energy(probs, targets, boxes, target_index, length_weight: float = 0.0):
    """Region level-set energy of each instance inside its box (compiled op).

    Args:
        probs: [N, h, w] float mask probabilities p (the Heaviside of the level set).
        targets: [M, C, h, w] float data terms u: one row per image (image term) or one per
            instance (feature term).
        boxes: [N, 4] integer pixel boxes (x0, y0, x1, y1) in mask coordinates, exclusive ends;
            clipped to the map here. A box of zero area gives energy 0 and zero gradient.
        target_index: [N] integer, the row of ``targets`` of each instance, in [0, M).
        length_weight: γ of the optional length term (0 = off, the paper's setting).

    Returns:
        [N] energy per instance, normalised by channel count and box area (fp32 unless an
        input is float64; fp16/bf16 inputs and autocast compute in fp32). Differentiable
        with respect to ``probs`` and ``targets``.
    """
    _check_inputs(probs, targets, boxes, target_index)
    dtype = compute_dtype(probs, targets)
    with autocast_disabled(probs.device):
        return _RegionLevelsetEnergyFunction.apply(
            probs.to(dtype).contiguous(),
            targets.to(dtype).contiguous(),
            boxes.long().contiguous(),
            target_index.long().contiguous(),
            float(length_weight),
        )


def box_masks_from_int_boxes(boxes, height: int, width: int, dtype=torch.float32):
    """Hard box masks of integer boxes (exclusive ends, clipped to the map).

    Args:
        boxes: [N, 4] integer (x0, y0, x1, y1).
        height, width: map size.
        dtype: dtype of the result.

    Returns:
        [N, height, width] masks, 1 inside the box.
    """
    boxes = boxes.long()
    ys = torch.arange(height, device=boxes.device)
    xs = torch.arange(width, device=boxes.device)
    in_y = (ys[None] >= boxes[:, 1:2]) & (ys[None] < boxes[:, 3:4])  # [N, h]
    in_x = (xs[None] >= boxes[:, 0:1]) & (xs[None] < boxes[:, 2:3])  # [N, w]
    return (in_y[:, :, None] & in_x[:, None, :]).to(dtype)


def region_levelset_energy_reference(
    probs, targets, boxes, target_index, length_weight: float = 0.0
):
    """The energy of :func:`region_levelset_energy` in plain PyTorch on full maps.

    Same arguments and result; the ground truth of the tests and the benchmark's baseline.
    Allocates [N, C, h, w] temporaries.
    """
    n, h, w = probs.shape
    box = box_masks_from_int_boxes(boxes, h, w, probs.dtype)  # [N, h, w]
    u = targets[target_index.long()]  # [N, C, h, w]
    f = probs * box  # [N, h, w]
    b = (1.0 - probs) * box
    c1 = (f[:, None] * u).sum((2, 3)) / f.sum((1, 2)).clamp_min(_REGION_EPS)[:, None]  # [N, C]
    c2 = (b[:, None] * u).sum((2, 3)) / b.sum((1, 2)).clamp_min(_REGION_EPS)[:, None]
    energy = (u - c1[:, :, None, None]) ** 2 * f[:, None] + (u - c2[:, :, None, None]) ** 2 * b[
        :, None
    ]
    energy = energy.sum((2, 3)).mean(1)  # [N]
    if length_weight:
        length = sum(t.diff(dim=d).abs().sum((1, 2)) for t in (f, b) for d in (1, 2))  # [N]
        energy = energy + length_weight * length
    return energy / box.sum((1, 2)).clamp_min(1.0)
