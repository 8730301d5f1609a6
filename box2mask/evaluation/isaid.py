"""Mask AP with the iSAID devkit's conventions: COCO AP over IoU 0.50:0.95, up to 1000
detections per patch, and the devkit's area ranges (small 10²–144², medium 144²–512², large
above 512² pixels) for the size breakdown.
"""
import contextlib
import copy
import io
import itertools
import json
import os
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

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


class ISAIDEvaluator(DatasetEvaluator):
    """iSAID mask AP (:func:`isaid_segm_eval`) on a registered COCO-format patch set with masks.

    ``evaluate()`` returns ``{"segm": {...}}``; the predictions are written to
    ``output_dir/isaid_instances_results.json`` (COCO results format, the json's category ids).
    """

    def __init__(self, dataset_name: str, distributed: bool = True,
                 output_dir: Optional[str] = None):
        json_file = PathManager.get_local_path(MetadataCatalog.get(dataset_name).json_file)
        with contextlib.redirect_stdout(io.StringIO()):
            self._coco = COCO(json_file)
        self._category_ids = sorted(self._coco.getCatIds())  # contiguous id → json id
        self._distributed = distributed
        self._output_dir = output_dir
        self._results: List[dict] = []

    def reset(self):
        self._results = []

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            instances = out["instances"].to("cpu")
            order = instances.scores.argsort(descending=True)[:MAX_DETECTIONS]
            for r in instances_to_coco_json(instances[order], inp["image_id"]):
                r["category_id"] = self._category_ids[r["category_id"]]
                self._results.append(r)

    def evaluate(self):
        results = self._results
        if self._distributed:
            results = list(itertools.chain(*comm.gather(results, dst=0)))
            if not comm.is_main_process():
                return {}
        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            path = os.path.join(self._output_dir, "isaid_instances_results.json")
            with PathManager.open(path, "w") as f:
                json.dump(results, f)
        return {"segm": isaid_segm_eval(self._coco, results)}
