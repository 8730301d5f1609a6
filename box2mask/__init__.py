"""Box2Mask: box-supervised instance segmentation via level-set evolution, on detectron2."""
from . import data  # registers the built-in data sets
from . import modeling  # registers the meta-architectures
from .config import add_box2mask_config
from .data import BoxSupervisedDatasetMapper, register_box_coco

__version__ = "0.1.0"
