"""Box-supervised data path: dataset registration, mapper, image reading, synthetic data."""
from . import builtin as _builtin  # registration
from . import testbeds as _testbeds  # registration: VOC, COCO and iSAID testbeds
from .dataset_mapper import BoxSupervisedDatasetMapper, build_box2mask_augmentation
from .datasets import (
    check_coco_json,
    load_box_coco_json,
    load_box_coco_serialized,
    register_box_coco,
)
from .serialized import SerializedDicts, build_train_dataset
from .image_io import read_image
