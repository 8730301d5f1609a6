"""Box2Mask models; importing this registers the meta-architectures and backbones."""
from . import backbone as _backbone  # registration
from . import meta_arch as _meta_arch  # registration
from .criterion import Box2MaskTCriterion
from .matcher import BoxHungarianMatcher, MaskHungarianMatcher
from .meta_arch import Box2MaskC, Box2MaskT
