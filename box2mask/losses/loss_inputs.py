"""What the losses see at mask resolution, prepared one way for Box2Mask-C and -T: the image of
the level-set data term (docs/method.md §2.3) and the ground-truth masks of mask supervision.

Shapes: B images, H × W padded input size, h × w mask resolution, G ground truths.
"""

from typing import List, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.structures import BitMasks, PolygonMasks

__all__ = ["LossImages", "loss_image_stats", "masks_at_mask_resolution"]


def loss_image_stats(cfg) -> Tuple[List[float], List[float]]:
    """LOSS.IMAGE_MEAN / IMAGE_STD (given in RGB order) in the input's channel order
    (INPUT.FORMAT), 0-255 scale."""
    mean = list(cfg.MODEL.BOX2MASK.LOSS.IMAGE_MEAN)
    std = list(cfg.MODEL.BOX2MASK.LOSS.IMAGE_STD)
    if cfg.INPUT.FORMAT == "BGR":
        mean, std = mean[::-1], std[::-1]
    return mean, std


class LossImages(nn.Module):
    """Network input (normalised by PIXEL_MEAN/STD, padded with 0) → the level-set data term's
    image (normalised by LOSS.IMAGE_MEAN/STD), area-resized to mask resolution.

    The loss normalisation is an affine map of the network's: ``x * scale + shift``. Area
    resampling averages each stride × stride cell, so thin structures are not aliased away.
    """

    @configurable
    def __init__(
        self,
        *,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        loss_image_mean: Sequence[float],
        loss_image_std: Sequence[float],
    ):
        """
        Args:
            pixel_mean, pixel_std: the network input's normalisation (input channel order).
            loss_image_mean, loss_image_std: the loss image's (input channel order).
        """
        super().__init__()
        pixel_std_t = torch.tensor(pixel_std, dtype=torch.float32).view(-1, 1, 1)
        pixel_mean_t = torch.tensor(pixel_mean, dtype=torch.float32).view(-1, 1, 1)
        loss_mean = torch.tensor(loss_image_mean, dtype=torch.float32).view(-1, 1, 1)
        loss_std = torch.tensor(loss_image_std, dtype=torch.float32).view(-1, 1, 1)
        self.register_buffer("scale", pixel_std_t / loss_std, False)
        self.register_buffer("shift", (pixel_mean_t - loss_mean) / loss_std, False)

    @classmethod
    def from_config(cls, cfg):
        mean, std = loss_image_stats(cfg)
        return {
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "loss_image_mean": mean,
            "loss_image_std": std,
        }

    def forward(self, images: torch.Tensor, mask_size: Tuple[int, int]) -> torch.Tensor:
        """
        Args:
            images: [B, 3, H, W] network input (ImageList.tensor).
            mask_size: (h, w).
        Returns:
            [B, 3, h, w] loss images.
        """
        return F.interpolate(images * self.scale + self.shift, size=mask_size, mode="area")


def masks_at_mask_resolution(
    gt_masks, image_size: Tuple[int, int], pad_size: Tuple[int, int], mask_size: Tuple[int, int]
) -> torch.Tensor:
    """Ground-truth masks of one image, padded to the batch's input size and area-resized.

    Args:
        gt_masks: BitMasks or PolygonMasks of G instances (input pixels).
        image_size: (height, width) of the image before padding.
        pad_size: (H, W) padded input size.
        mask_size: (h, w).
    Returns:
        [G, h, w] float in [0, 1] (fraction of each cell covered).
    """
    if isinstance(gt_masks, PolygonMasks):
        gt_masks = BitMasks.from_polygon_masks(gt_masks, *image_size)
    m = gt_masks.tensor if isinstance(gt_masks, BitMasks) else gt_masks
    m = m.to(torch.float32)
    m = F.pad(m, (0, pad_size[1] - m.shape[-1], 0, pad_size[0] - m.shape[-2]))
    if len(m) == 0:
        return m.new_zeros((0, *mask_size))
    return F.interpolate(m[:, None], size=mask_size, mode="area")[:, 0]
