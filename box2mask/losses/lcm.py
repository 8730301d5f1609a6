"""Local consistency module (LCM; docs/method.md §2.4): refine p by affinity propagation over the
8 dilated neighbours of each pixel, and penalise the difference inside the box.

Shapes: N instances, B images, h × w the working resolution.
"""

import torch
import torch.nn.functional as F

__all__ = ["local_affinity", "propagate", "local_consistency_loss"]

_STD_EPS = 1e-8


def _neighbours(x, dilation: int):
    """The 8 neighbours of every pixel at distance ``dilation`` (replicate padding).

    Args:
        x: [B, K, h, w].

    Returns:
        [B, K, 8, h, w].
    """
    d = dilation
    h, w = x.shape[-2:]
    padded = F.pad(x, (d, d, d, d), mode="replicate")
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    return torch.stack(
        [
            padded[..., d + dy * d : d + dy * d + h, d + dx * d : d + dx * d + w]
            for dy, dx in shifts
        ],
        dim=2,
    )


@torch.no_grad()
def local_affinity(images, dilation: int = 2, alpha: float = 0.3):
    """Normalised affinities to the 8 dilated neighbours.

    a_ij = -(|I_i - I_j| / (std_{N(i)} I + 1e-8) / α)², averaged over the colour channels,
    then a softmax over the 8 neighbours j.

    Args:
        images: [B, 3, h, w] float images.
        dilation: neighbour distance in pixels.
        alpha: affinity scale α.

    Returns:
        [B, 8, h, w] affinities summing to 1 over dim 1 (no gradient).
    """
    nb = _neighbours(images, dilation)  # [B, 3, 8, h, w]
    # Unbiased std over the neighbours (written out: torch.std over a middle dim is slow on CPU).
    centred = nb - nb.mean(dim=2, keepdim=True)
    std = ((centred * centred).sum(dim=2, keepdim=True) / (nb.shape[2] - 1)).sqrt()  # [B,3,1,h,w]
    aff = -(((nb - images[:, :, None]).abs() / (std + _STD_EPS) / alpha) ** 2)
    return aff.mean(dim=1).softmax(dim=1)


def propagate(probs, affinity, dilation: int = 2, iters: int = 10):
    """Iterate q ← Σ_j a_ij q_j, starting from p.

    Args:
        probs: [N, h, w].
        affinity: [N, 8, h, w] (each instance's image affinity).
        dilation: the neighbour distance used for ``affinity``.
        iters: number of iterations.

    Returns:
        [N, h, w] refined maps q.
    """
    q = probs[:, None]  # [N, 1, h, w]
    for _ in range(iters):
        q = (_neighbours(q, dilation)[:, 0] * affinity).sum(1, keepdim=True)
    return q[:, 0]


def local_consistency_loss(
    probs,
    images,
    image_index,
    box_masks,
    dilation: int = 2,
    iters: int = 10,
    alpha: float = 0.3,
    detach_target: bool = True,
):
    """LCM loss per instance: Σ |q - p| · B / max(Σ B, 1).

    Args:
        probs: [N, h, w] mask probabilities.
        images: [B, 3, h, w] images at the same resolution.
        image_index: [N] long, image of each instance.
        box_masks: [N, h, w] box masks.
        dilation, iters, alpha: see :func:`local_affinity` and :func:`propagate`.
        detach_target: treat q as a fixed pseudo-target (no gradient through propagation).

    Returns:
        [N] losses (unweighted).
    """
    affinity = local_affinity(images, dilation, alpha)[image_index]  # [N, 8, h, w]
    q = propagate(probs.detach() if detach_target else probs, affinity, dilation, iters)
    return ((q - probs).abs() * box_masks).sum((1, 2)) / box_masks.sum((1, 2)).clamp_min(1.0)
