"""Names of the prepared testbeds, registered under
``$DETECTRON2_DATASETS/<voc|coco|isaid|lits|rects|dota>``.

Each ``projects/<testbed>/prepare.py --out $DETECTRON2_DATASETS/<folder>`` writes the jsons and
``images/`` that these names load. ``evaluator_type`` selects the evaluator
(:func:`box2mask.evaluation.build_evaluator`).
"""
import os

from detectron2.data import DatasetCatalog, MetadataCatalog

from ..datasets import register_box_coco
from .dota import DOTA_CLASSES
from .isaid import ISAID_CLASSES
from .lits import LITS_CLASSES
from .rects import RECTS_CLASSES
from .voc import VOC_CLASSES

__all__ = ["TESTBED_SPLITS", "register_testbeds"]

# name → (folder under the root, json in it, evaluator_type, class names or None: the json's)
TESTBED_SPLITS = {
    "voc_2012_train_box": ("voc", "train.json", "voc_instance", VOC_CLASSES),
    "voc_2012_val": ("voc", "val.json", "voc_instance", VOC_CLASSES),
    "coco_2017_train_box": ("coco", "train.json", "coco", None),
    "coco_2017_val_box2mask": ("coco", "val.json", "coco", None),
    "coco_2017_test-dev_box2mask": ("coco", "test-dev.json", "coco", None),
    "isaid_train_box": ("isaid", "train.json", "isaid", ISAID_CLASSES),
    "isaid_val": ("isaid", "val.json", "isaid", ISAID_CLASSES),
    "lits_train_box": ("lits", "train.json", "coco", LITS_CLASSES),
    "lits_val": ("lits", "val.json", "coco", LITS_CLASSES),
    "rects_train_box": ("rects", "train.json", "rects", RECTS_CLASSES),
    "rects_val": ("rects", "val.json", "rects", RECTS_CLASSES),
    "dota_train_box": ("dota", "train.json", "dota", DOTA_CLASSES),
    "dota_val": ("dota", "val.json", "dota", DOTA_CLASSES),
}


def register_testbeds(root: str) -> None:
    """Register every name of ``TESTBED_SPLITS`` with its files under ``root``.

    detectron2 registers ``voc_2012_val`` itself, as the box-only Pascal VOC detection set of
    the same images; it is replaced here by the instance-segmentation set.
    """
    for name, (folder, json_name, evaluator_type, classes) in TESTBED_SPLITS.items():
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        metadata = {"thing_classes": list(classes)} if classes is not None else {}
        register_box_coco(
            name,
            os.path.join(root, folder, json_name),
            os.path.join(root, folder, "images"),
            annotated=not name.startswith("coco_2017_test-dev"),  # an image list
            evaluator_type=evaluator_type,
            **metadata,
        )
