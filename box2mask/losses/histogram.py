"""Region energy with nonparametric colour densities: each phase is scored by the colour
histogram of its own pixels instead of by its mean colour (docs/method.md §2.10).

The two-phase energy of §2.2 models each phase by one mean colour, which splits an object of
several colours (a face above a dark shirt) along its colours. Here each phase is modelled by
a soft colour histogram over the box and its ring, and a pixel costs ``-log`` of its colour's
density in its phase: an object whose colours are rare in the ring of known background is
cheapest as one phase, whatever its colours are.

Shapes: N instances, B images, h × w the map resolution, K = bins³ colour bins.
"""

import torch

__all__ = ["colour_bin_index", "histogram_region_energy"]


def colour_bin_index(images: torch.Tensor, bins: int) -> torch.Tensor:
    """Joint colour bin of every pixel, bins spaced uniformly between each image's 1st and
    99th percentile of each channel (contrast-independent).

    Args:
        images: [B, 3, h, w] float.
        bins: bins per channel.
    Returns:
        [B, h, w] long in [0, bins³).
    """
    flat = images.detach().flatten(2).float()  # [B, 3, hw]
    low = torch.quantile(flat, 0.01, dim=2, keepdim=True)
    high = torch.quantile(flat, 0.99, dim=2, keepdim=True)
    scaled = (flat - low) / (high - low).clamp_min(1e-6)
    q = (scaled * bins).long().clamp_(0, bins - 1)  # [B, 3, hw]
    index = q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2]
    return index.view(images.shape[0], *images.shape[2:])


def histogram_region_energy(
    probs: torch.Tensor,
    bin_index: torch.Tensor,
    region: torch.Tensor,
    image_index: torch.Tensor,
    num_bins: int,
    pseudo_count: float = 1.0,
) -> torch.Tensor:
    """``Σ_R [f·(-log P_f(bin)) + b·(-log P_b(bin))] / |R|`` per instance, R the region.

    ``f = p`` and ``b = 1 - p`` inside the region R (the box, or the box with its ring when the
    caller clamps the ring's p to 0); ``P_f(k) = (Σ_R f·[bin = k] + α / K) / (Σ_R f + α)``, the
    soft histogram of the object phase with α pseudo-counts spread over the K bins, and P_b the
    same for the background phase. The densities are not detached: like c1 and c2 of the mean
    colour energy they follow the mask.

    Args:
        probs: [N, h, w] mask probabilities (0 where known background).
        bin_index: [B, h, w] long colour bin of each pixel (:func:`colour_bin_index`).
        region: [N, h, w] float, 1 on each instance's region (its box, or box and ring).
        image_index: [N] long, image of each instance.
        num_bins: K, the number of colour bins.
        pseudo_count: α, total pseudo-count of each histogram.
    Returns:
        [N] energies (nats per region pixel).
    """
    n = probs.shape[0]
    region = region.flatten(1).to(probs.dtype)  # [N, hw]
    idx = bin_index[image_index.long()].flatten(1)  # [N, hw]
    f = probs.flatten(1) * region
    b = (1.0 - probs.flatten(1)) * region
    energy = probs.new_zeros(n)
    for phase in (f, b):
        hist = phase.new_zeros(n, num_bins).scatter_add(1, idx, phase)  # [N, K]
        density = (hist + pseudo_count / num_bins) / (phase.sum(1, keepdim=True) + pseudo_count)
        energy = energy + (phase * -density.log().gather(1, idx)).sum(1)
    return energy / region.sum(1).clamp_min(1.0)
