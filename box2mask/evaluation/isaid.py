"""Mask AP with the iSAID devkit's conventions: COCO AP over IoU 0.50:0.95, up to 1000
detections per patch, and the devkit's area ranges (small 10²–144², medium 144²–512², large
above 512² pixels) for the size breakdown.
"""
import contextlib
import copy
import io
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from .coco_results import COCOResultsEvaluator

__all__ = ["ISAIDEvaluator", "isaid_segm_eval", "MAX_DETECTIONS", "AREA_RANGES"]

MAX_DETECTIONS = 1000
# name → [min, max] area in pixels (iSAID devkit's cocoeval Params)
AREA_RANGES = OrderedDict(
    [("all", [0, 1e10]), ("small", [10**2, 144**2]), ("medium", [144**2, 512**2]),
     ("large", [512**2, 1e10])]
)


def isaid_segm_eval(coco_gt: COCO, results: List[dict]) -> Dict[str, float]:
    """COCO mask AP of ``results`` (COCO result dicts with RLE ``segmentation``) under the iSAID
    parameters.

    Returns:
        {"AP", "AP50", "AP75", "APs", "APm", "APl"} in percent (NaN where no ground truth).
    """
    if not results:
        return {k: 0.0 for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")}
    results = copy.deepcopy(results)
    for r in results:
        r.pop("bbox", None)  # mask area, not box area, decides the size range
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "segm")
        ev.params.maxDets = [1, 10, MAX_DETECTIONS]
        ev.params.areaRng = list(AREA_RANGES.values())
        ev.params.areaRngLbl = list(AREA_RANGES)
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"]  # (IoU thresholds, recall points, classes, areas, maxDets)
    iou_thrs = ev.params.iouThrs

    def mean_ap(area: int, iou: Optional[float] = None) -> float:
        p = precision[:, :, :, area, -1]
        if iou is not None:
            p = p[np.isclose(iou_thrs, iou)]
        p = p[p > -1]
        return 100 * float(p.mean()) if p.size else float("nan")

    return {"AP": mean_ap(0), "AP50": mean_ap(0, 0.5), "AP75": mean_ap(0, 0.75),
            "APs": mean_ap(1), "APm": mean_ap(2), "APl": mean_ap(3)}


class ISAIDEvaluator(COCOResultsEvaluator):
    """iSAID mask AP (:func:`isaid_segm_eval`) on a registered COCO-format patch set with masks.

    ``evaluate()`` returns ``{"segm": {...}}``; the predictions are written to
    ``output_dir/isaid_instances_results.json`` (COCO results format, the json's category ids).
    """

    max_detections = MAX_DETECTIONS

    def __init__(self, dataset_name: str, distributed: bool = True,
                 output_dir: Optional[str] = None):
        super().__init__(dataset_name, distributed, output_dir)
        with contextlib.redirect_stdout(io.StringIO()):
            self._coco = COCO(self._json_file)
        self._category_ids = sorted(self._coco.getCatIds())  # contiguous id → json id

    def _evaluate(self, results: List[dict]) -> dict:
        self._write_results("isaid_instances_results.json", results)
        return {"segm": isaid_segm_eval(self._coco, results)}
