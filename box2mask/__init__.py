"""Box2Mask: box-supervised instance segmentation via level-set evolution, on detectron2."""
from . import modeling as _modeling  # registration
from .config import add_box2mask_config

__version__ = "0.1.0"
