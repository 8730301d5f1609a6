"""The evaluator of a data set, chosen by its metadata's ``evaluator_type``."""
import logging
import os

import detectron2._C as d2_C
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator, DatasetEvaluator, DatasetEvaluators

from .dota import DOTAEvaluator
from .isaid import ISAIDEvaluator
from .voc_instance import VOCInstanceEvaluator

__all__ = ["HAS_FAST_COCO_EVAL", "build_evaluator"]

# detectron2 built without its compiled ops has a pure-Python stand-in `_C` module.
HAS_FAST_COCO_EVAL = not getattr(d2_C, "__file__", "").endswith(".py")


def build_evaluator(cfg, dataset_name: str, output_folder=None) -> DatasetEvaluator:
    """The evaluator of ``dataset_name`` by ``MetadataCatalog.get(name).evaluator_type``:

    * ``"coco"`` (the default): detectron2's ``COCOEvaluator``, box and mask AP; box AP only
      (with a warning) when an annotation of the set has no ``segmentation``;
    * ``"voc_instance"``: ``COCOEvaluator`` and :class:`VOCInstanceEvaluator` (VOC AP at IoU
      0.25, 0.5, 0.7, 0.75 under the key ``"voc_segm"``);
    * ``"isaid"``: :class:`ISAIDEvaluator` (mask AP, up to 1000 detections, iSAID areas);
    * ``"rects"``: ``COCOEvaluator`` box AP only (the models' boxes are those of their masks);
    * ``"dota"``: :class:`DOTAEvaluator` (oriented boxes from masks, Task 1 files and mAP).

    Args:
        cfg: the config (``OUTPUT_DIR`` is the default root of ``output_folder``).
        dataset_name: a registered data set.
        output_folder: where evaluators write their files; default
            ``OUTPUT_DIR/inference/<dataset_name>``.
    """
    output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
    evaluator_type = MetadataCatalog.get(dataset_name).get("evaluator_type", "coco")
    if evaluator_type == "isaid":
        return ISAIDEvaluator(dataset_name, output_dir=output_folder)
    if evaluator_type == "dota":
        return DOTAEvaluator(dataset_name, output_dir=output_folder)
    if evaluator_type not in ("coco", "voc_instance", "rects"):
        raise ValueError(
            f"data set '{dataset_name}' has evaluator_type {evaluator_type!r}; build_evaluator "
            "knows 'coco', 'voc_instance', 'isaid', 'rects' and 'dota'"
        )
    with_masks = evaluator_type != "rects" and _has_masks(dataset_name)
    if evaluator_type == "voc_instance" and not with_masks:
        raise ValueError(
            f"data set '{dataset_name}': VOC instance evaluation needs a 'segmentation' in "
            "every annotation"
        )
    coco = COCOEvaluator(
        dataset_name,
        tasks=("bbox", "segm") if with_masks else ("bbox",),
        output_dir=output_folder,
        use_fast_impl=HAS_FAST_COCO_EVAL,
    )
    if evaluator_type in ("coco", "rects"):
        return coco
    return DatasetEvaluators([coco, VOCInstanceEvaluator(dataset_name)])


def _has_masks(dataset_name: str) -> bool:
    """Whether every annotation of the set has a mask (True for a set without annotations,
    e.g. an image list whose results are submitted elsewhere)."""
    total = missing = 0
    for record in DatasetCatalog.get(dataset_name):
        for annotation in record.get("annotations", ()):
            total += 1
            missing += "segmentation" not in annotation
    if missing:
        logging.getLogger(__name__).warning(
            f"data set '{dataset_name}': {missing} of {total} annotations have no "
            "'segmentation'; evaluating boxes only (bbox AP, no mask AP)"
        )
    return not missing
