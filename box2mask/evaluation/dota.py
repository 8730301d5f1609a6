"""DOTA-v1.0 Task 1 (oriented boxes) from predicted masks: patches merged back to full images,
the devkit's submission files and its oriented mAP.

Each predicted mask becomes the minimum-area rectangle of its largest component
(:func:`box2mask.evaluation.rotated.mask_to_rotated_box`), shifted from its patch to the full
image; the detections of one image and class are merged by rotated NMS at IoU 0.1 (the
devkit's ``ResultMerge`` threshold). ``Task1_<class>.txt`` holds one line per detection,
``<image> <score> x1 y1 x2 y2 x3 y3 x4 y4``. The oriented mAP follows the devkit's
``dota_evaluation_task1``: per class, detections by decreasing score are matched to the
highest-IoU polygon of their image at IoU > 0.5; a match to a ``difficult`` object counts
neither as true nor as false positive, and difficult objects are not in the recall's
denominator; AP is the VOC 2007 11-point interpolation; mAP is the mean over the classes
with at least one non-difficult object.
"""
import contextlib
import io
import os
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO

from ..data.testbeds.dota import parse_dota_labels
from .coco_results import COCOResultsEvaluator
from .rotated import mask_to_rotated_box, polygon_iou, rotated_nms

__all__ = ["DOTAEvaluator", "dota_oriented_map", "merge_patch_results", "voc07_ap",
           "write_task1", "MERGE_NMS_IOU"]

MERGE_NMS_IOU = 0.1

# class → [(image, score, polygon (4, 2))]
Detections = Dict[str, List[Tuple[str, float, np.ndarray]]]


def voc07_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC 2007 11-point AP: mean over t = 0, 0.1, …, 1 of the best precision at recall ≥ t."""
    return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                          for t in np.linspace(0, 1, 11)]))


def dota_oriented_map(detections: Detections, ground_truth: Dict[str, List[dict]],
                      classes: Sequence[str], iou_threshold: float = 0.5) -> Dict[str, float]:
    """The devkit's oriented AP per class and their mean, in percent.

    Args:
        detections: class → [(image, score, polygon (4, 2))].
        ground_truth: image → objects of :func:`box2mask.data.testbeds.parse_dota_labels`
            (``polygon``, ``name``, ``difficult``); every evaluated image is a key.
        classes: the class names.
        iou_threshold: a detection matches at polygon IoU strictly above it.

    Returns:
        {"mAP": mean over classes with a non-difficult object, "AP-<class>": AP of each of
        those classes}.
    """
    result = {}
    for name in classes:
        gts = {image: [o for o in objects if o["name"] == name]
               for image, objects in ground_truth.items()}
        positives = sum(not o["difficult"] for objects in gts.values() for o in objects)
        if positives == 0:
            continue
        dets = sorted(detections.get(name, []), key=lambda d: -d[1])
        matched = {image: [False] * len(objects) for image, objects in gts.items()}
        tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
        for k, (image, _, polygon) in enumerate(dets):
            objects = gts.get(image, [])
            ious = [polygon_iou(polygon, o["polygon"]) for o in objects]
            best = int(np.argmax(ious)) if ious else -1
            if best < 0 or ious[best] <= iou_threshold:
                fp[k] = 1
            elif objects[best]["difficult"]:
                continue
            elif matched[image][best]:
                fp[k] = 1  # a second detection of the same object
            else:
                tp[k] = 1
                matched[image][best] = True
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        recall = tp / positives
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        result[f"AP-{name}"] = 100 * voc07_ap(recall, precision)
    aps = list(result.values())
    return {"mAP": float(np.mean(aps)) if aps else float("nan"), **result}


def merge_patch_results(results: List[dict], patches: Dict[int, Tuple[str, int, int]],
                        class_names: Dict[int, str],
                        nms_iou: float = MERGE_NMS_IOU) -> Detections:
    """Oriented full-image detections of COCO-format patch results with RLE masks.

    Args:
        results: COCO result dicts (``image_id``, ``category_id``, ``score``,
            ``segmentation`` RLE) of patches.
        patches: patch ``image_id`` → (full image name, x0, y0) of its window.
        class_names: ``category_id`` → class name.
        nms_iou: rotated NMS threshold of the detections of one image and class.

    Returns:
        class → [(image, score, polygon (4, 2))], by decreasing score within an image.
    """
    grouped = defaultdict(list)  # (class, image) → [(score, polygon)]
    for r in results:
        if r["image_id"] not in patches:
            raise ValueError(f"result for image_id {r['image_id']}, which is not a patch of "
                             "the data set")
        polygon = mask_to_rotated_box(mask_util.decode(r["segmentation"]))
        if polygon is None:
            continue
        image, x0, y0 = patches[r["image_id"]]
        grouped[class_names[r["category_id"]], image].append(
            (float(r["score"]), polygon + (x0, y0)))
    detections: Detections = defaultdict(list)
    for (name, image), dets in sorted(grouped.items()):
        keep = rotated_nms([p for _, p in dets], [s for s, _ in dets], nms_iou)
        detections[name].extend((image, dets[i][0], dets[i][1]) for i in keep)
    return dict(detections)


def write_task1(out_dir, detections: Detections, classes: Sequence[str]) -> List[Path]:
    """``out_dir/Task1_<class>.txt`` for every class (empty where nothing was detected)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in classes:
        path = out_dir / f"Task1_{name}.txt"
        lines = [f"{image} {score:.6f} " + " ".join(f"{v:.1f}" for v in polygon.ravel())
                 for image, score, polygon in detections.get(name, [])]
        path.write_text("".join(line + "\n" for line in lines))
        paths.append(path)
    return paths


def load_patches(json_file) -> Tuple[Dict[int, Tuple[str, int, int]], Dict[int, str]]:
    """(patch image_id → (full image, x0, y0), category_id → name) of a DOTA patch json."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(json_file))
    patches = {}
    for image in coco.dataset["images"]:
        if not all(k in image for k in ("source", "x0", "y0")):
            raise ValueError(f"{json_file}: image {image['id']} lacks 'source', 'x0' or 'y0' "
                             "(not written by projects/DOTA/prepare.py)")
        patches[image["id"]] = (image["source"], int(image["x0"]), int(image["y0"]))
    return patches, {c["id"]: c["name"] for c in coco.dataset["categories"]}


class DOTAEvaluator(COCOResultsEvaluator):
    """Task 1 of DOTA on a registered patch set written by ``projects/DOTA/prepare.py``.

    ``evaluate()`` writes ``output_dir/coco_instances_results.json`` (the patch predictions)
    and ``output_dir/task1/Task1_<class>.txt`` (merged full-image oriented boxes) and returns
    ``{"dota": {"mAP", "AP-<class>"...}}`` against the label files of the json's folder
    (``<json stem>_labelTxt/``); without them it only writes the files.
    """

    def __init__(self, dataset_name: str, distributed: bool = True,
                 output_dir: Optional[str] = None):
        super().__init__(dataset_name, distributed, output_dir)
        self._patches, self._class_names = load_patches(self._json_file)
        self._category_ids = sorted(self._class_names)  # contiguous id → json id
        json_file = Path(self._json_file)
        self._label_dir = json_file.with_name(f"{json_file.stem}_labelTxt")

    def _evaluate(self, results: List[dict]) -> dict:
        detections = merge_patch_results(results, self._patches, self._class_names)
        classes = [self._class_names[i] for i in self._category_ids]
        self._write_results("coco_instances_results.json", results)
        if self._output_dir:
            write_task1(os.path.join(self._output_dir, "task1"), detections, classes)
        if not self._label_dir.is_dir():
            return {}
        images = sorted({source for source, _, _ in self._patches.values()})
        ground_truth = {image: parse_dota_labels(self._label_dir / f"{image}.txt")
                        for image in images}
        return {"dota": dota_oriented_map(detections, ground_truth, classes)}
