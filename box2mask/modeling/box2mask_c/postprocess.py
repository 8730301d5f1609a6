"""Inference of Box2Mask-C: points-NMS, mask scoring, Matrix NMS, resizing to the image.

Glossary: K classes, M grid cells of all levels, D kernel size, N candidates,
h × w mask resolution (stride 4 of the padded input), H × W padded input, H0 × W0 output.
"""

from typing import Tuple

import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.structures import Boxes, Instances

from ..mask_postprocess import masks_to_boxes, resample_to_output

__all__ = ["points_nms", "matrix_nms", "Box2MaskCPostProcessor"]


def points_nms(heat: torch.Tensor) -> torch.Tensor:
    """Keep only the local maxima of category maps over 2 × 2 windows (SOLO's points-NMS).

    A cell survives when it equals the maximum of the 2 × 2 window whose bottom-right
    corner it is (its up, left and up-left neighbours); other cells are zeroed.

    Args:
        heat: [B, K, S, S] probabilities.
    Returns:
        [B, K, S, S] with non-maxima set to 0.
    """
    hmax = F.max_pool2d(heat, 2, stride=1, padding=1)[..., :-1, :-1]
    return heat * (hmax == heat)


def matrix_nms(
    masks: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor,
    kernel: str = "gaussian",
    sigma: float = 2.0,
) -> torch.Tensor:
    """Matrix NMS (SOLOv2): decay every score by its overlap with higher-scored masks.

    For candidates sorted by score, with IoU_ij (i ranked above j, same class) and
    comp_i = max_k IoU_ki (how much i itself was suppressed):
    decay_j = min_i f(IoU_ij) / f(comp_i), f(x) = exp(-σ x²) ("gaussian") or 1 - x ("linear").

    Args:
        masks: [N, h, w] binary (bool or 0/1 float), sorted by decreasing score.
        labels: [N] long class of each mask.
        scores: [N] float, decreasing.
        kernel: "gaussian" or "linear".
        sigma: σ of the gaussian kernel.
    Returns:
        [N] decayed scores.
    """
    n = len(scores)
    if n == 0:
        return scores
    m = masks.reshape(n, -1).float()
    areas = m.sum(1)
    # IoU only matters within a class: the intersections are computed per class block (the
    # same products as one N × N matmul when a single class is present, far fewer otherwise).
    inter = m.new_zeros((n, n))
    for c in labels.unique():
        idx = (labels == c).nonzero()[:, 0]
        if len(idx) > 1:
            block = m[idx]
            inter[idx[:, None], idx[None, :]] = block @ block.t()
    union = areas[:, None] + areas[None, :] - inter
    # [N, N], row i suppresses column j; zero across classes (no intersection computed there)
    decay_iou = (inter / union.clamp(min=1e-6)).triu(diagonal=1)
    comp_iou = decay_iou.max(dim=0).values[:, None]  # [N, 1], how much row i was suppressed
    if kernel == "gaussian":
        decay = torch.exp(-sigma * (decay_iou**2 - comp_iou**2))
    elif kernel == "linear":
        decay = (1 - decay_iou) / (1 - comp_iou).clamp(min=1e-6)
    else:
        raise ValueError(f"Matrix NMS kernel must be 'gaussian' or 'linear', got {kernel!r}")
    return scores * decay.min(dim=0).values


class Box2MaskCPostProcessor:
    """Turns the head outputs of one image into detectron2 ``Instances``."""

    @configurable
    def __init__(
        self,
        *,
        score_thresh: float = 0.05,
        nms_pre: int = 500,
        mask_prob_threshold: float = 0.55,
        update_thresh: float = 0.05,
        nms_kernel: str = "gaussian",
        nms_sigma: float = 2.0,
        max_per_img: int = 100,
        upsample_chunk: int = 32,
    ):
        """
        Args:
            score_thresh: category score threshold after points-NMS.
            nms_pre: candidates kept by category score and again before Matrix NMS.
            mask_prob_threshold: mask probability threshold of the binary masks.
            update_thresh: minimum score after the Matrix NMS decay.
            nms_kernel: "gaussian" or "linear".
            nms_sigma: σ of the gaussian kernel.
            max_per_img: instances returned at most.
            upsample_chunk: masks upsampled at a time (bounds peak memory).
        """
        if nms_kernel not in ("gaussian", "linear"):
            raise ValueError(
                f"MATRIX_NMS_KERNEL must be 'gaussian' or 'linear', got {nms_kernel!r}"
            )
        self.score_thresh = score_thresh
        self.nms_pre = nms_pre
        self.mask_prob_threshold = mask_prob_threshold
        self.update_thresh = update_thresh
        self.nms_kernel = nms_kernel
        self.nms_sigma = nms_sigma
        self.max_per_img = max_per_img
        self.upsample_chunk = upsample_chunk

    @classmethod
    def from_config(cls, cfg):
        c = cfg.MODEL.BOX2MASK_C
        return {
            "score_thresh": c.SCORE_THRESH,
            "nms_pre": c.NMS_PRE,
            "mask_prob_threshold": c.MASK_PROB_THRESHOLD,
            "update_thresh": c.UPDATE_THRESH,
            "nms_kernel": c.MATRIX_NMS_KERNEL,
            "nms_sigma": c.MATRIX_NMS_SIGMA,
            "max_per_img": cfg.TEST.DETECTIONS_PER_IMAGE,
        }

    def __call__(
        self,
        category_probs: torch.Tensor,
        kernels: torch.Tensor,
        cell_strides: torch.Tensor,
        mask_features: torch.Tensor,
        input_size: Tuple[int, int],
        image_size: Tuple[int, int],
        output_size: Tuple[int, int],
    ) -> Instances:
        """
        Args:
            category_probs: [M, K] sigmoid scores after points-NMS.
            kernels: [M, D] dynamic kernels.
            cell_strides: [M] float, stride of each cell's level (small-mask filter).
            mask_features: [D, h, w].
            input_size: (H, W) padded input size the mask features span (h = H / 4).
            image_size: (H_img, W_img) valid (unpadded) part of the input.
            output_size: (H0, W0) size of the returned masks (original image size).
        Returns:
            Instances of size output_size with pred_masks [N, H0, W0] bool, pred_boxes,
            scores [N], pred_classes [N] long.
        """
        cand = (category_probs > self.score_thresh).nonzero()  # [N, 2] (cell, class)
        scores = category_probs[cand[:, 0], cand[:, 1]]
        if len(scores) > self.nms_pre:
            scores, top = scores.topk(self.nms_pre)
            cand = cand[top]
        cells, classes = cand[:, 0], cand[:, 1]

        d, h, w = mask_features.shape
        # Candidates are selected by index; only the final ≤ max_per_img rows are gathered.
        probs = (kernels[cells] @ mask_features.reshape(d, h * w)).sigmoid_()  # [N, h*w]
        binary = (probs > self.mask_prob_threshold).float()
        areas = binary.sum(1)
        maskness = (probs * binary).sum(1) / areas.clamp(min=1)
        scores = scores * maskness
        keep = (areas > cell_strides[cells]).nonzero()[:, 0]
        order = keep[scores[keep].argsort(descending=True)[: self.nms_pre]]
        scores, classes = scores[order], classes[order]
        scores = matrix_nms(binary[order], classes, scores, self.nms_kernel, self.nms_sigma)
        final = (scores >= self.update_thresh).nonzero()[:, 0]
        final = final[scores[final].argsort(descending=True)[: self.max_per_img]]
        scores, classes = scores[final], classes[final]
        probs = probs[order[final]].reshape(-1, h, w)

        masks = self._resize_masks(probs, input_size, image_size, output_size)
        result = Instances(output_size)
        result.pred_masks = masks
        result.pred_boxes = Boxes(masks_to_boxes(masks))
        result.scores = scores
        result.pred_classes = classes
        return result

    def _resize_masks(self, probs, input_size, image_size, output_size) -> torch.Tensor:
        """[N, h, w] probabilities over the padded input → [N, H0, W0] bool, in chunks."""
        out = torch.empty((len(probs), *output_size), dtype=torch.bool, device=probs.device)
        for i in range(0, len(probs), self.upsample_chunk):
            chunk = probs[i : i + self.upsample_chunk]
            out[i : i + self.upsample_chunk] = (
                resample_to_output(chunk, image_size, output_size, input_size) > self.mask_prob_threshold
            )
        return out
