"""Hungarian matchers of Box2Mask-T: box-level (boxes only) and mask-level (``SUPERVISION mask``).

Both take the same inputs and return, per image, the matched (prediction, target) indices.

Inputs, for a batch of B images, Q queries, C classes, masks at H×W (mask resolution):
    outputs["pred_logits"]: [B, Q, C+1] class logits (last = no object)
    outputs["pred_masks"]:  [B, Q, H, W] mask logits
    targets[b]["labels"]:   [n_b] long, class ids in [0, C)
    targets[b]["boxes"]:    [n_b, 4] float (x0, y0, x1, y1) in mask-resolution pixels
    targets[b]["masks"]:    [n_b, H, W] float in [0, 1] (only the mask matcher reads it)
"""

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from scipy.optimize import linear_sum_assignment
from torch import nn

from ...losses.projection import box_pixel_ranges

__all__ = [
    "BoxHungarianMatcher",
    "MaskHungarianMatcher",
    "build_matcher",
    "box_projection_targets",
    "pairwise_dice",
    "solve_assignment",
]

# Non-finite costs (a NaN in the predictions, a degenerate box) become this finite cost, so the
# solver never fails and such pairs are matched only when nothing else is possible.
NON_FINITE_COST = 1e8


def solve_assignment(cost: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Minimum-cost one-to-one assignment of a [Q, n] cost matrix (n ≤ Q typically).

    Non-finite entries (NaN, ±inf) are replaced by ``NON_FINITE_COST`` first.

    Returns:
        (pred_idx, tgt_idx): two int64 tensors of length min(Q, n), sorted by pred_idx.
    """
    cost = cost.detach().double().cpu()
    cost = torch.where(torch.isfinite(cost), cost, torch.full_like(cost, NON_FINITE_COST))
    rows, cols = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)


def pairwise_dice(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Dice loss ``1 - 2Σab / (Σa² + Σb² + eps)`` between every row of a [Q, K] and b [n, K].

    Returns [Q, n].
    """
    inter = a @ b.t()
    return 1 - 2 * inter / ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] + eps)


def box_projection_targets(
    boxes: torch.Tensor, height: int, width: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """x/y max-projections of the box masks of ``box_pixel_ranges`` (pixel centres inside the
    box), derived from the coordinates alone.

    Args:
        boxes: [n, 4] float (x0, y0, x1, y1) in pixels of the height×width grid.
    Returns:
        proj_x [n, width], proj_y [n, height], float in {0, 1}.
    """
    r = box_pixel_ranges(boxes, height, width)
    xs = torch.arange(width, device=boxes.device)
    ys = torch.arange(height, device=boxes.device)
    proj_x = (xs[None] >= r[:, 0:1]) & (xs[None] < r[:, 2:3])
    proj_y = (ys[None] >= r[:, 1:2]) & (ys[None] < r[:, 3:4])
    return proj_x.float(), proj_y.float()


class _HungarianMatcher(nn.Module):
    """Shared loop: per-image cost matrix → assignment, under no_grad with autocast off."""

    def pair_cost(self, pred_logits, pred_masks, target) -> torch.Tensor:
        """pred_logits [Q, C+1], pred_masks [Q, H, W] (fp32), one target dict → cost [Q, n]."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(
        self, outputs: Dict[str, torch.Tensor], targets: List[Dict[str, torch.Tensor]]
    ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """
        Args:
            outputs, targets: see the module docstring.
        Returns:
            per image, (pred_idx, tgt_idx) int64 tensors of equal length min(Q, n_b).
        """
        device_type = outputs["pred_logits"].device.type
        indices = []
        with torch.autocast(device_type=device_type, enabled=False):
            for b, target in enumerate(targets):
                n = len(target["labels"])
                if n == 0:
                    empty = torch.zeros(0, dtype=torch.int64)
                    indices.append((empty, empty.clone()))
                    continue
                cost = self.pair_cost(
                    outputs["pred_logits"][b].float(), outputs["pred_masks"][b].float(), target
                )
                indices.append(solve_assignment(cost))
        return indices

    @staticmethod
    def class_cost(pred_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """-p(class): [Q, n]."""
        return -pred_logits.softmax(-1)[:, labels]


class BoxHungarianMatcher(_HungarianMatcher):
    """Box-level matching (docs/method.md §5.3): ``β_cls·(−p_class) + β_box·Dice_proj``, where
    ``Dice_proj = Dice(max_y p, max_y B) + Dice(max_x p, max_x B)`` (the same sum of the two
    projection Dice terms as the projection loss), p = sigmoid(mask logit), B the GT box mask.
    """

    @configurable
    def __init__(self, *, cost_class: float = 2.0, cost_box: float = 5.0):
        """
        Args:
            cost_class: β_cls, weight of the class cost.
            cost_box: β_box, weight of the box-projection Dice cost.
        """
        super().__init__()
        if cost_class == 0 and cost_box == 0:
            raise ValueError("COST_CLASS and COST_BOX cannot both be 0")
        self.cost_class = cost_class
        self.cost_box = cost_box

    @classmethod
    def from_config(cls, cfg):
        return {
            "cost_class": cfg.MODEL.BOX2MASK_T.COST_CLASS,
            "cost_box": cfg.MODEL.BOX2MASK_T.COST_BOX,
        }

    def pair_cost(self, pred_logits, pred_masks, target):
        h, w = pred_masks.shape[-2:]
        p = pred_masks.sigmoid()
        gx, gy = box_projection_targets(target["boxes"].to(p.device), h, w)
        dice = pairwise_dice(p.amax(1), gx) + pairwise_dice(p.amax(2), gy)  # [Q, n]
        return self.cost_class * self.class_cost(pred_logits, target["labels"]) + (
            self.cost_box * dice
        )


class MaskHungarianMatcher(_HungarianMatcher):
    """Mask-level matching for ``SUPERVISION mask`` (the fully supervised reference):
    ``β_cls·(−p_class) + β_bce·BCE + β_dice·Dice`` against GT masks at mask resolution
    (all pixels, no point sampling), as Mask2Former's matcher.
    """

    @configurable
    def __init__(self, *, cost_class: float = 2.0, cost_dice: float = 5.0, cost_bce: float = 5.0):
        """
        Args:
            cost_class, cost_dice, cost_bce: weights of the class, Dice and BCE costs.
        """
        super().__init__()
        self.cost_class = cost_class
        self.cost_dice = cost_dice
        self.cost_bce = cost_bce

    @classmethod
    def from_config(cls, cfg):
        t = cfg.MODEL.BOX2MASK_T
        return {
            "cost_class": t.COST_CLASS,
            "cost_dice": t.COST_MASK_DICE,
            "cost_bce": t.COST_MASK_BCE,
        }

    def pair_cost(self, pred_logits, pred_masks, target):
        x = pred_masks.flatten(1)  # [Q, HW]
        t = target["masks"].to(x).flatten(1)  # [n, HW]
        hw = max(x.shape[1], 1)
        bce = (F.softplus(-x) @ t.t() + F.softplus(x) @ (1 - t).t()) / hw
        p = x.sigmoid()
        dice = 1 - (2 * p @ t.t() + 1) / (p.sum(1)[:, None] + t.sum(1)[None, :] + 1)
        return (
            self.cost_class * self.class_cost(pred_logits, target["labels"])
            + self.cost_bce * bce
            + self.cost_dice * dice
        )


def build_matcher(cfg) -> _HungarianMatcher:
    """The box matcher for ``SUPERVISION box``, the mask matcher for ``SUPERVISION mask``."""
    supervision = cfg.MODEL.BOX2MASK.SUPERVISION
    if supervision == "box":
        return BoxHungarianMatcher(cfg)
    if supervision == "mask":
        return MaskHungarianMatcher(cfg)
    raise ValueError(f"MODEL.BOX2MASK.SUPERVISION must be 'box' or 'mask', got {supervision!r}")
