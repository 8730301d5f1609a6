"""Pascal VOC instance-segmentation AP (the AP^r of SDS, as in the BoxInst / BoxLevelSet VOC
tables): per class, detections of the whole set in descending score order are matched to the
ground truth of their image with the highest mask IoU; a detection is a true positive when that
IoU reaches the threshold and the ground truth is not matched yet. AP is the area under the
VOC (2010+) precision-recall curve, averaged over the classes that have ground truth.

Pixels marked void in the ground truth (VOC's 255 band; the image's ``void`` RLE written by the
VOC converter) count as neither object nor background: they are left out of every IoU.

Shapes: N predictions, M ground-truth instances, H × W image.
"""
import contextlib
import io
from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np
import pycocotools.mask as mask_util
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils.file_io import PathManager
from pycocotools.coco import COCO

from .coco_results import gather_on_main

__all__ = ["VOCInstanceEvaluator", "mask_ious", "voc_ap", "voc_instance_ap"]

IOU_THRESHOLDS = (0.25, 0.5, 0.7, 0.75)


def mask_ious(pred: np.ndarray, gt: np.ndarray, void: np.ndarray) -> np.ndarray:
    """IoU of each prediction with each ground truth, void pixels left out.

    Args:
        pred: (N, H, W) bool predicted masks.
        gt: (M, H, W) bool ground-truth masks.
        void: (H, W) bool pixels that count for neither.

    Returns:
        (N, M) float64 IoUs.
    """
    keep = ~void.reshape(-1)
    p = pred.reshape(len(pred), void.size)[:, keep].astype(np.float64)
    g = gt.reshape(len(gt), void.size)[:, keep].astype(np.float64)
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision-recall curve with precision made monotone (VOC 2010+)."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def voc_instance_ap(records: Sequence[dict], category_id: int, iou_threshold: float) -> float:
    """AP of one class over the records of :meth:`VOCInstanceEvaluator.process`; NaN when the
    class has no ground truth.

    Args:
        records: per image ``scores`` (N,), ``classes`` (N,), ``gt_classes`` (M,), ``ious``
            (N, M).
        category_id: the class (the json's category id).
        iou_threshold: least mask IoU of a true positive.
    """
    num_gt = sum(int((r["gt_classes"] == category_id).sum()) for r in records)
    if num_gt == 0:
        return float("nan")
    detections = [(r["scores"][d], i, d) for i, r in enumerate(records)
                  for d in np.nonzero(r["classes"] == category_id)[0]]
    order = np.argsort([-s for s, _, _ in detections], kind="mergesort")
    matched = [np.zeros(len(r["gt_classes"]), bool) for r in records]
    tp = np.zeros(len(detections))
    for k, j in enumerate(order):
        _, i, d = detections[j]
        candidates = np.nonzero(records[i]["gt_classes"] == category_id)[0]
        if len(candidates) == 0:
            continue
        best = candidates[np.argmax(records[i]["ious"][d, candidates])]
        if records[i]["ious"][d, best] >= iou_threshold and not matched[i][best]:
            matched[i][best] = True
            tp[k] = 1
    tp_sum = np.cumsum(tp)
    recall = tp_sum / num_gt
    precision = tp_sum / np.arange(1, len(tp) + 1)
    return voc_ap(recall, precision)


class VOCInstanceEvaluator(DatasetEvaluator):
    """VOC instance-segmentation AP at IoU 0.25, 0.5, 0.7 and 0.75 of a registered COCO-format
    set with masks (``MetadataCatalog.get(name).json_file``).

    ``evaluate()`` returns ``{"voc_segm": {"AP25", "AP50", "AP70", "AP75", "AP50-<class>"...}}``
    in percent.
    """

    def __init__(self, dataset_name: str, distributed: bool = True):
        json_file = PathManager.get_local_path(MetadataCatalog.get(dataset_name).json_file)
        with contextlib.redirect_stdout(io.StringIO()):
            self._coco = COCO(json_file)
        self._category_ids = sorted(self._coco.getCatIds())  # contiguous id → json id
        self._distributed = distributed
        self._records: List[dict] = []

    def reset(self):
        self._records = []

    def _ground_truth(self, image_id: int):
        image = self._coco.imgs[image_id]
        anns = [a for a in self._coco.imgToAnns[image_id] if not a.get("iscrowd", 0)]
        shape = (image["height"], image["width"])
        gt = np.stack([self._coco.annToMask(a) for a in anns]).astype(bool) if anns else (
            np.zeros((0, *shape), bool))
        void = (mask_util.decode(image["void"]).astype(bool) if "void" in image
                else np.zeros(shape, bool))
        return gt, np.array([a["category_id"] for a in anns], int), void

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            gt, gt_classes, void = self._ground_truth(inp["image_id"])
            instances = out["instances"].to("cpu")
            pred = instances.pred_masks.numpy().astype(bool)
            if pred.shape[1:] != void.shape:
                raise ValueError(f"image {inp['image_id']}: predicted masks of size "
                                 f"{pred.shape[1:]}, ground truth {void.shape}")
            self._records.append({
                "scores": instances.scores.numpy().astype(np.float64),
                "classes": np.array([self._category_ids[c] for c in
                                     instances.pred_classes.tolist()], int),
                "gt_classes": gt_classes,
                "ious": mask_ious(pred, gt, void),
            })

    def evaluate(self) -> Dict[str, Dict[str, float]]:
        records = gather_on_main(self._records, self._distributed)
        if records is None:
            return {}
        names = {c: self._coco.cats[c]["name"] for c in self._category_ids}
        per_class = {t: {c: voc_instance_ap(records, c, t) for c in self._category_ids}
                     for t in IOU_THRESHOLDS}
        results = OrderedDict()
        for t in IOU_THRESHOLDS:
            valid = [ap for ap in per_class[t].values() if not np.isnan(ap)]
            results[f"AP{round(t * 100)}"] = 100 * float(np.mean(valid)) if valid else float("nan")
        for c, ap in per_class[0.5].items():
            results[f"AP50-{names[c]}"] = 100 * ap
        return {"voc_segm": results}
