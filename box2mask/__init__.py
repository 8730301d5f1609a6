"""Box2Mask: box-supervised instance segmentation via level-set evolution, on detectron2."""
from . import data as _data  # registration: built-in data sets
from . import modeling as _modeling  # registration: meta-architectures and backbones
from .config import add_box2mask_config
from .data import BoxSupervisedDatasetMapper, register_box_coco
from .predictor import Predictor

__version__ = "0.1.0"
