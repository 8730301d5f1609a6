"""Names of the prepared testbeds, registered under ``$DETECTRON2_DATASETS/<voc|coco|isaid>``.

Each ``projects/<testbed>/prepare.py --out $DETECTRON2_DATASETS/<folder>`` writes the jsons and
``images/`` that these names load. ``evaluator_type`` selects the evaluator
(:func:`box2mask.evaluation.build_evaluator`).
"""
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.coco import load_coco_json

from ..datasets import load_box_coco_json
from .isaid import ISAID_CLASSES
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
}


def _loader(name: str, json_file: str, image_root: str):
    if name.startswith("coco_2017_test-dev"):  # an image list without annotations
        return lambda: load_coco_json(json_file, image_root, name)
    return lambda: load_box_coco_json(json_file, image_root, name)


def register_testbeds(root: str) -> None:
    """Register every name of ``TESTBED_SPLITS`` with its files under ``root``.

    detectron2 registers ``voc_2012_val`` itself, as the box-only Pascal VOC detection set of
    the same images; it is replaced here by the instance-segmentation set.
    """
    for name, (folder, json_name, evaluator_type, classes) in TESTBED_SPLITS.items():
        json_file = os.path.join(root, folder, json_name)
        image_root = os.path.join(root, folder, "images")
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        DatasetCatalog.register(name, _loader(name, json_file, image_root))
        meta = {"json_file": json_file, "image_root": image_root,
                "evaluator_type": evaluator_type}
        if classes is not None:
            meta["thing_classes"] = list(classes)
        MetadataCatalog.get(name).set(**meta)
